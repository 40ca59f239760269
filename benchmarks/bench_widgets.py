"""Widget benchmarks: building compare() over 10,000 runs, and chart data of a
million-point history. Prints medians; ``--write`` records them in results/widgets.md.

    python benchmarks/bench_widgets.py [--repeats 7] [--write]

Targets: ``compare()`` over 10,000 runs returns in under 0.3 s in a warm kernel and in
under 0.6 s as the first widget of a fresh one (loading the widget modules included);
chart data for a million-point history is ready in under 0.5 s. ``compare()`` returns
once the first page of rows is in the table (in a fresh kernel read as plain rows from
the SQLite file, before SQLAlchemy and pandas load); the other runs are
read by a background thread, timed on its own ("all runs loaded", measured from the
return of ``compare()`` with ``wait_loaded()``). The steps after it (display, sort,
filter) start with every run loaded, so that they are timed alone. The charts are
built for the static copy when the widget is displayed, timed on its own. MLflow has no
in-notebook comparison widget (its comparison lives in the separate web UI), so there
is no side-by-side reference to run here; the numbers stand alone.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
N_RUNS, N_PARAMS, N_METRICS = 10_000, 30, 20
HISTORY = 1_000_000


def fill(workdir: Path) -> str:
    """A store with N_RUNS finished runs (params, metrics, tags) and one RUNNING run whose
    ``loss`` history holds HISTORY points. Returns the tracking URI."""
    from jupyter_mltrack import Client
    from jupyter_mltrack.store.sql import param_number

    uri = f"sqlite:///{workdir / '.mltrack' / 'mltrack.db'}"
    client = Client(uri)
    exp = int(client.get_or_create_experiment("bench"))
    live = client.create_run(str(exp), run_name="live")
    client.store.write_metrics([(live.info.run_id, "loss", 1.0, 0, 0)])
    con = sqlite3.connect(workdir / ".mltrack" / "mltrack.db")
    base = 1_600_000_000_000
    runs, params, latest, tags = [], [], [], []
    for i in range(N_RUNS):
        pk = 10 + i
        rid = f"{pk:032x}"
        runs.append((pk, rid, exp, f"run-{i}", "FINISHED", base + i, base + i + 60_000, "active",
                     "bench", f"/tmp/bench-artifacts/{rid}", base + i))
        for j in range(N_PARAMS):
            value = str((i * (j + 1)) % (j + 7))
            params.append((pk, f"p{j}", value, param_number(value)))
        for j in range(N_METRICS):
            latest.append((pk, f"m{j}", math.sin(i * 0.01 + j), 0, base, 0))
        tags.append((pk, "team", "vision" if i % 3 else "nlp"))
        tags.append((pk, "mltrack.user", "bench"))
    con.executemany("INSERT INTO runs (id, run_uuid, experiment_id, name, status, start_time, "
                    "end_time, lifecycle_stage, user_id, artifact_uri, heartbeat) VALUES "
                    "(?,?,?,?,?,?,?,?,?,?,?)", runs)
    con.executemany("INSERT INTO params (run_id, key, value, num) VALUES (?,?,?,?)", params)
    con.executemany("INSERT INTO latest_metrics (run_id, key, value, step, timestamp, is_nan) "
                    "VALUES (?,?,?,?,?,?)", latest)
    con.executemany("INSERT INTO tags (run_id, key, value) VALUES (?,?,?)", tags)
    con.commit()
    con.close()
    # The long history goes through the store's own write path.
    steps = range(1, HISTORY)
    chunk = 200_000
    for lo in range(1, HISTORY, chunk):
        client.store.write_metrics([
            (live.info.run_id, "loss", math.exp(-s / 2e5) + 0.01 * math.sin(s), s, base + s)
            for s in steps[lo - 1:lo - 1 + chunk]])
    return uri


# -- one measurement per fresh process -----------------------------------------------------

CHILD = r"""
import json, sys, time
t = [time.perf_counter()]
from jupyter_mltrack import Client
client = Client(sys.argv[1])
t.append(time.perf_counter())
cpu = time.process_time()  # CPU of the whole process (the background read included)
from jupyter_mltrack.widgets import compare
w = compare("bench", client=client, refresh_interval=None)
t.append(time.perf_counter())
cpu_first_build = time.process_time() - cpu
heavy = sum(m in sys.modules for m in ("pandas", "numpy", "sqlalchemy"))
getattr(w, "wait_loaded", lambda: None)()  # earlier versions read all first
t.append(time.perf_counter())
w.display_outputs()  # displayed: Altair loads, the charts are built for the static copy
t.append(time.perf_counter())
cpu = time.process_time()
w2 = compare("bench", client=client, refresh_interval=None)
t.append(time.perf_counter())
cpu_build = time.process_time() - cpu
getattr(w2, "wait_loaded", lambda: None)()
t.append(time.perf_counter())
w2.display_outputs()
t.append(time.perf_counter())
w2.table._sort = {"key": "metrics.m3", "ascending": False}
t.append(time.perf_counter())
w2.table._page = 57
t.append(time.perf_counter())
w2.filter_box.value = "params.p3 = '2' and metrics.m1 > 0"
getattr(w2, "wait_loaded", lambda: None)()
t.append(time.perf_counter())
w2.table._selected = w2.table.visible_ids[:5]
t.append(time.perf_counter())
client.search_runs_frame(None, None, max_results=100_000)
t.append(time.perf_counter())
steps = ["import", "first_build", "first_loaded", "first_show", "build", "loaded", "show",
         "sort", "page", "filter", "select", "search"]
out = {name: t[i + 1] - t[i] for i, name in enumerate(steps)}
import jupyter_mltrack.widgets.comparison as comparison
out.update(cpu_first_build=cpu_first_build, cpu_build=cpu_build, first_heavy=heavy)
out.update(rows=w.table._total, columns=len(w.table._columns),
           first_rows=getattr(comparison, "FIRST_ROWS", w.table._total))
print(json.dumps(out))
"""


def widget_build(uri: str, repeats: int, baseline: str | None = None
                 ) -> tuple[dict[str, float], dict[str, float] | None]:
    """Medians of the CHILD steps; with ``baseline`` (the folder holding an earlier
    version's ``jupyter_mltrack``) the two versions alternate, one fresh process each."""
    trees = {"this": str(HERE.parent), **({"baseline": baseline} if baseline else {})}
    import compileall

    for tree in trees.values():  # from bytecode, as an installed package starts
        compileall.compile_dir(str(Path(tree) / "jupyter_mltrack"), quiet=1)
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for _ in range(repeats):
        for name, tree in trees.items():
            # Run from the tree too: `python -c` puts the working directory first on the path.
            env = dict(os.environ, PYTHONPATH=tree)
            out = subprocess.run([sys.executable, "-c", CHILD, uri], capture_output=True,
                                 text=True, check=True, env=env, cwd=tree)
            samples[name].append(json.loads(out.stdout.strip().splitlines()[-1]))

    def medians(rows: list[dict[str, float]]) -> dict[str, float]:
        return {k: statistics.median(r[k] for r in rows if k in r) for k in rows[0]}

    return medians(samples["this"]), medians(samples["baseline"]) if baseline else None


def versus(build: dict[str, float], base: dict[str, float]) -> str:
    """The side-by-side table of this tree and the baseline."""
    def ms(seconds: float) -> str:
        return f"{seconds * 1000:,.0f} ms"

    rows = [("`compare()` in a warm kernel (returns)", "build"),
            ("then all runs in the table (warm)", "loaded"),
            ("`compare()` as the first widget of a fresh kernel (returns)", "first_build"),
            ("display in a warm kernel", "show")]
    lines = ["", "## Side by side with the baseline version (alternating fresh processes)", "",
             "| step | this version | baseline | ratio |", "| --- | ---: | ---: | ---: |"]
    for label, key in rows:
        mine = build[key] + (build["build"] if key == "loaded" else 0.0)
        theirs = base[key] + (base["build"] if key == "loaded" else 0.0)
        lines.append(f"| {label} | {ms(mine)} | {ms(theirs)} | {theirs / mine:.1f}x |")
    lines.append("")
    lines.append("(\"then all runs\" counts from the call: the baseline read every run "
                 "before returning.)")
    return "\n".join(lines) + "\n"


def chart_data(uri: str, repeats: int) -> dict[str, float]:
    from jupyter_mltrack import Client
    from jupyter_mltrack.widgets import charts
    from jupyter_mltrack.widgets.live import HistoryCache

    client = Client(uri)
    run_id = client.search_runs_frame(None, "attributes.run_name = 'live'")[0]["run_id"][0]
    frame = client.get_metric_history_frame(run_id, "loss")
    assert len(frame) == HISTORY, len(frame)
    history = {"live": frame}
    timings: dict[str, list[float]] = {k: [] for k in (
        "lttb", "minmax", "smoothed_lttb", "spec", "read", "end_to_end", "tick_100_new")}
    for _ in range(repeats):
        t = time.perf_counter()
        data, _ = charts.history_data(history, max_points=1500)
        timings["lttb"].append(time.perf_counter() - t)
        assert len(data) <= 1500
        t = time.perf_counter()
        charts.history_data(history, max_points=1500, method="minmax")
        timings["minmax"].append(time.perf_counter() - t)
        t = time.perf_counter()
        charts.history_data(history, max_points=1500, smoothing=0.6)
        timings["smoothed_lttb"].append(time.perf_counter() - t)
        t = time.perf_counter()
        charts.metric_history(history, "loss").to_dict()
        timings["spec"].append(time.perf_counter() - t)
        t = time.perf_counter()
        read = client.get_metric_history_frame(run_id, "loss")
        timings["read"].append(time.perf_counter() - t)
        t = time.perf_counter()
        charts.metric_history(
            {"live": client.get_metric_history_frame(run_id, "loss")}, "loss").to_dict()
        timings["end_to_end"].append(time.perf_counter() - t)
        # A live tick on this run: 100 new points read incrementally, chart rebuilt.
        cache = HistoryCache(client)
        cache.get(run_id, "loss")
        last = int(read["step"].iloc[-1])
        client.store.write_metrics([(run_id, "loss", 0.5, s, 0)
                                    for s in range(last + 1, last + 101)])
        t = time.perf_counter()
        cache.extend(run_id, "loss")
        charts.metric_history({"live": cache.get(run_id, "loss")}, "loss").to_dict()
        timings["tick_100_new"].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in timings.items()}


def report(build: dict[str, float], chart: dict[str, float], repeats: int, load: float) -> str:
    def ms(seconds: float) -> str:
        return f"{seconds * 1000:,.0f} ms"

    def ok(seconds: float, target: float) -> str:
        return "meets" if seconds < target else "misses"

    heavy = ("the first page read as plain rows: pandas, numpy and SQLAlchemy not loaded "
             "when it returns" if build.get("first_heavy", 1) == 0 else
             f"{build.get('first_heavy', 0):.0f} of pandas, numpy and SQLAlchemy loaded "
             "when it returns")
    lines = [
        "# Widget benchmarks",
        "",
        "`python benchmarks/bench_widgets.py --write` (medians; each widget measurement in a "
        "fresh process).",
        "",
        f"## compare() over {int(build['rows']):,} runs ({N_PARAMS} params, {N_METRICS} metrics, "
        f"tags; {int(build['columns'])} table columns)",
        "",
        "| step | median |",
        "| --- | ---: |",
        f"| `compare()` in a warm kernel (returns with the first "
        f"{int(build['first_rows'])} rows shown) | "
        f"**{ms(build['build'])}** |",
        f"| the same, CPU time of the process | {ms(build.get('cpu_build', math.nan))} |",
        f"| then all runs in the table (read in the background; sort and filter then "
        f"see every run) | {ms(build['loaded'])} |",
        f"| the store's `search_runs_frame` of all runs (alone) | {ms(build['search'])} |",
        f"| `compare()` as the first widget of a fresh kernel (widget modules loaded "
        f"by it; {heavy}) | **{ms(build['first_build'])}** |",
        f"| the same, CPU time of the process | "
        f"{ms(build.get('cpu_first_build', math.nan))} |",
        f"| then all runs in the table, fresh kernel (SQLAlchemy and pandas load in the "
        f"background read) | {ms(build['first_loaded'])} |",
        f"| first display in a fresh kernel (loads Altair, builds the charts and the "
        f"static copy with its SVG) | {ms(build['first_show'])} |",
        f"| display in a warm kernel (charts + static copy) | {ms(build['show'])} |",
        f"| `import jupyter_mltrack` + `Client()` | {ms(build['import'])} |",
        f"| sort 10,000 rows by a metric (header click) | {ms(build['sort'])} |",
        f"| turn to page 58 | {ms(build['page'])} |",
        f"| type a filter (query + table + charts, every matching run loaded) | "
        f"{ms(build['filter'])} |",
        f"| select 5 rows (all four charts rebuilt) | {ms(build['select'])} |",
        "",
        f"Targets: `compare()` under 0.3 s warm: {ok(build['build'], 0.3)} it "
        f"({ms(build['build'])}); under 0.6 s as the first widget of a fresh kernel: "
        f"{ok(build['first_build'], 0.6)} it ({ms(build['first_build'])}). Reading all "
        f"10,000 runs from the store ({ms(build['search'])}) happens after `compare()` "
        f"returns, in a background thread.",
        "",
        f"## Chart data for a {HISTORY:,}-point history",
        "",
        "| step | median |",
        "| --- | ---: |",
        f"| LTTB to 1,500 points (chart rows) | **{ms(chart['lttb'])}** |",
        f"| min/max buckets to 1,500 points | {ms(chart['minmax'])} |",
        f"| EMA smoothing + LTTB | {ms(chart['smoothed_lttb'])} |",
        f"| whole chart spec (`metric_history(...).to_dict()`) | {ms(chart['spec'])} |",
        f"| read the history from SQLite | {ms(chart['read'])} |",
        f"| read + chart spec, end to end | {ms(chart['end_to_end'])} |",
        f"| live tick: 100 new points read incrementally + chart spec | "
        f"{ms(chart['tick_100_new'])} |",
        "",
        f"Target: chart data under 0.5 s: {ok(chart['lttb'], 0.5)} it ({ms(chart['lttb'])} for "
        f"the downsampling, {ms(chart['end_to_end'])} from the store to a spec).",
        "",
        f"({platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"{repeats} repeats; a shared machine, so numbers vary between runs: load average "
        f"{load:.1f} when the measurements started.)",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--baseline", help="folder holding an earlier version's "
                        "jupyter_mltrack package (e.g. from `git archive`), timed alternately")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-widgets-") as tmp:
        t = time.perf_counter()
        uri = fill(Path(tmp))
        print(f"store filled in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        load = os.getloadavg()[0]
        build, base = widget_build(uri, args.repeats, args.baseline)
        chart = chart_data(uri, args.repeats)
    text = report(build, chart, args.repeats, load)
    if base is not None:
        text += versus(build, base)
    print(text)
    if args.write:
        (HERE / "results").mkdir(exist_ok=True)
        (HERE / "results" / "widgets.md").write_text(text)


if __name__ == "__main__":
    main()
