"""Widget benchmarks: building compare() over 10,000 runs, and chart data of a
million-point history. Prints medians; ``--write`` records them in results/widgets.md.

    python benchmarks/bench_widgets.py [--repeats 7] [--write]

Targets: ``compare()`` over 10,000 runs returns in under 0.3 s in a warm kernel and in
under 0.6 s as the first widget of a fresh one (loading the widget modules included);
chart data for a million-point history is ready in under 0.5 s. The charts are built
when the widget is first displayed, so displaying it is timed on its own. MLflow has no
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
from jupyter_mltrack.widgets import compare
w = compare("bench", client=client, refresh_interval=None)
t.append(time.perf_counter())
w._repr_mimebundle_()  # displayed: Altair loads, the four charts are built and sent
t.append(time.perf_counter())
w2 = compare("bench", client=client, refresh_interval=None)
t.append(time.perf_counter())
w2._repr_mimebundle_()
t.append(time.perf_counter())
w2.table._sort = {"key": "metrics.m3", "ascending": False}
t.append(time.perf_counter())
w2.table._page = 57
t.append(time.perf_counter())
w2.filter_box.value = "params.p3 = '2' and metrics.m1 > 0"
t.append(time.perf_counter())
w2.table._selected = w2.table.visible_ids[:5]
t.append(time.perf_counter())
client.search_runs_frame(None, None, max_results=100_000)
t.append(time.perf_counter())
steps = ["import", "first_build", "first_show", "build", "show", "sort", "page", "filter",
         "select", "search"]
out = {name: t[i + 1] - t[i] for i, name in enumerate(steps)}
out.update(rows=w.table._total, columns=len(w.table._columns))
print(json.dumps(out))
"""


def widget_build(uri: str, repeats: int) -> dict[str, float]:
    samples: list[dict[str, float]] = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", CHILD, uri], capture_output=True, text=True,
                             check=True)
        samples.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {k: statistics.median(s[k] for s in samples) for k in samples[0]}


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
        f"| `compare()` in a warm kernel | **{ms(build['build'])}** |",
        f"| of which the store's `search_runs_frame` of all runs (alone) | "
        f"{ms(build['search'])} |",
        f"| `compare()` as the first widget of a fresh kernel (widget modules loaded "
        f"by it) | **{ms(build['first_build'])}** |",
        f"| first display in a fresh kernel (loads Altair and the Vega bundle, builds "
        f"the four charts, static copy) | {ms(build['first_show'])} |",
        f"| display in a warm kernel (four charts + static copy) | {ms(build['show'])} |",
        f"| `import jupyter_mltrack` + `Client()` | {ms(build['import'])} |",
        f"| sort 10,000 rows by a metric (header click) | {ms(build['sort'])} |",
        f"| turn to page 58 | {ms(build['page'])} |",
        f"| type a filter (query + table + charts) | {ms(build['filter'])} |",
        f"| select 5 rows (all four charts rebuilt) | {ms(build['select'])} |",
        "",
        f"Targets: `compare()` under 0.3 s warm: {ok(build['build'], 0.3)} it "
        f"({ms(build['build'])}); under 0.6 s as the first widget of a fresh kernel: "
        f"{ok(build['first_build'], 0.6)} it ({ms(build['first_build'])}). Reading the "
        f"10,000 runs from the store ({ms(build['search'])}) is most of either.",
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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-widgets-") as tmp:
        t = time.perf_counter()
        uri = fill(Path(tmp))
        print(f"store filled in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        load = os.getloadavg()[0]
        build = widget_build(uri, args.repeats)
        chart = chart_data(uri, args.repeats)
    text = report(build, chart, args.repeats, load)
    print(text)
    if args.write:
        (HERE / "results").mkdir(exist_ok=True)
        (HERE / "results" / "widgets.md").write_text(text)


if __name__ == "__main__":
    main()
