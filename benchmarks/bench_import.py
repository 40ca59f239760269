"""MLflow store import: ``import_mlflow`` against MLflow reading the same store.

Run in an environment that has both (MLflow is never a dependency of the project)::

    /tmp/bench/bin/python benchmarks/bench_import.py [--runs 1000] [--repeat 3] [--write]

The store: one experiment of ``--runs`` runs, each with 10 params, 5 tags and 10 metrics
of 1,000 steps (10 million metric rows at the default size), in an MLflow SQLite
database. MLflow creates the database (its own ``SqlAlchemyStore`` runs its migrations);
the rows are then inserted with plain SQL into MLflow's tables, because logging 10
million points through MLflow's API takes hours. The file is kept between runs in
``--cache``.

Measured, in fresh processes, one after the other:

- ours: ``import_mlflow(sqlite:///...)`` into a fresh SQLite store (experiments, runs,
  params, tags and every metric history), ``--repeat`` times, alternately as it runs
  (reader processes) and with the store read in the importing process alone;
- MLflow: what reading the same data costs MLflow itself, ``MlflowClient.search_runs``
  for all runs and ``get_metric_history`` for every run and metric, once by default
  (it takes minutes; ``--mlflow-repeat`` for more).

Medians; the ratio says how many times faster the import is than MLflow reading.
``--write`` puts the table in benchmarks/README.md between the ``import`` markers and the
numbers in benchmarks/results/import.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from statistics import median

HERE = Path(__file__).resolve().parent
README = HERE / "README.md"
RESULTS = HERE / "results" / "import.json"
METRICS = 10
STEPS = 1000
PARAMS = 10


def generate(db: Path, runs: int) -> None:
    """An MLflow SQLite store of ``runs`` runs x 10 metrics x 1,000 steps."""
    import logging

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.ERROR)
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    tmp = db.with_suffix(".partial")
    tmp.unlink(missing_ok=True)
    store = SqlAlchemyStore(f"sqlite:///{tmp}", str(db.parent / "mlruns"))
    exp_id = store.create_experiment("bench")
    store.engine.dispose()
    conn = sqlite3.connect(tmp)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    t0 = 1_700_000_000_000
    for r in range(runs):
        run_id = uuid.uuid4().hex
        start = t0 + r * 60_000
        conn.execute(
            "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, "
            "user_id, status, start_time, end_time, source_version, lifecycle_stage, "
            "artifact_uri, experiment_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (run_id, f"run-{r}", "LOCAL", "", "", "bench", "FINISHED", start,
             start + 50_000, "", "active", f"{db.parent}/mlruns/{exp_id}/{run_id}/artifacts",
             int(exp_id)))
        conn.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?,?,?)",
                         [(f"p{i}", str(r * 0.001 + i), run_id) for i in range(PARAMS)])
        conn.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?,?,?)",
                         [("mlflow.runName", f"run-{r}", run_id),
                          ("mlflow.user", "bench", run_id)]
                         + [(f"t{i}", f"v{r % 7}", run_id) for i in range(3)])
        rows = []
        latest = []
        for m in range(METRICS):
            key = f"m{m}"
            for s in range(STEPS):
                rows.append((key, (r + 1) / (s + 1) + m * 1e-7, start + s * 10, run_id, s, 0))
            latest.append((key, rows[-1][1], rows[-1][2], STEPS - 1, 0, run_id))
        conn.executemany("INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
                         "VALUES (?,?,?,?,?,?)", rows)
        conn.executemany("INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, "
                         "run_uuid) VALUES (?,?,?,?,?,?)", latest)
        if r % 100 == 99:
            conn.commit()
            print(f"  generated {r + 1} runs", file=sys.stderr)
    conn.commit()
    conn.close()
    tmp.rename(db)


OURS = r"""
import json, os, sys, time
from jupyter_mltrack import import_mlflow
from jupyter_mltrack.store import mlflow_sql_source
if sys.argv[3] == "one":  # no reader processes: everything in this one
    mlflow_sql_source.PARALLEL_POINTS = 2**62
t, before = time.perf_counter(), os.times()
summary = import_mlflow(sys.argv[1], tracking_uri=sys.argv[2], progress=False)
seconds, after = time.perf_counter() - t, os.times()
own = after.user + after.system - before.user - before.system
readers = (after.children_user + after.children_system - before.children_user
           - before.children_system)
print(json.dumps({"seconds": seconds, "cpu_seconds": own + readers, "cpu_own": own,
                  "cpu_readers": readers, "runs": summary.runs,
                  "points": summary.metric_points}))
"""

MLFLOW = r"""
import json, logging, sys, time
logging.getLogger("mlflow").setLevel(logging.ERROR)
from mlflow import MlflowClient
from mlflow.entities import ViewType
client = MlflowClient(sys.argv[1])
limit = int(sys.argv[2])
t, cpu = time.perf_counter(), time.process_time()
runs, token = [], None
exp = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
while True:
    page = client.search_runs(exp, max_results=1000, page_token=token)
    runs += page
    token = page.token
    if not token or len(runs) >= limit:
        break
runs = runs[:limit]
points = 0
for run in runs:
    for key in run.data.metrics:
        points += len(client.get_metric_history(run.info.run_id, key))
seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "runs": len(runs), "points": points}))
"""


def _fresh(script: str, *args: str) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-4000:])
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _write_readme(text: str) -> None:
    start, end = "<!-- import:start -->", "<!-- import:end -->"
    readme = README.read_text(encoding="utf-8")
    if start not in readme:
        readme = readme.rstrip("\n") + (
            "\n\n## Importing an MLflow store\n\n`bench_import.py`: `import_mlflow()` of an "
            "MLflow SQLite store against MLflow reading the same store through its client "
            f"(`search_runs` + `get_metric_history` for every run and metric).\n\n{start}\n"
            f"{end}\n")
    head, rest = readme.split(start, 1)
    _, tail = rest.split(end, 1)
    README.write_text(f"{head}{start}\n{text}\n{end}{tail}", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--mlflow-repeat", type=int, default=1)
    parser.add_argument("--mlflow-runs", type=int, default=None,
                        help="read only this many runs with MLflow (default: all)")
    parser.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "bench-import"))
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    db = cache / f"mlflow-{args.runs}.db"
    if not db.exists():
        print(f"generating {db} ...", file=sys.stderr)
        generate(db, args.runs)
    source = f"sqlite:///{db}"
    ours, single = [], []
    for i in range(args.repeat):
        for mode, found in (("auto", ours), ("one", single)):
            with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
                found.append(_fresh(OURS, source, f"sqlite:///{tmp}/mltrack.db", mode))
            print(f"  ours ({mode}) #{i + 1}: {found[-1]}", file=sys.stderr)
    mlflow_runs = args.mlflow_runs or args.runs
    theirs = []
    for i in range(args.mlflow_repeat):
        theirs.append(_fresh(MLFLOW, source, str(mlflow_runs)))
        print(f"  MLflow #{i + 1}: {theirs[-1]}", file=sys.stderr)
    ours_s = median(r["seconds"] for r in ours)
    ours_cpu = median(r["cpu_seconds"] for r in ours)
    own_cpu = median(r["cpu_own"] for r in ours)
    readers_cpu = median(r["cpu_readers"] for r in ours)
    single_s = median(r["seconds"] for r in single)
    single_cpu = median(r["cpu_seconds"] for r in single)
    # MLflow's time for all the runs (scaled when it read only some: per run it is flat)
    scale = args.runs / mlflow_runs
    mlflow_s = median(r["seconds"] for r in theirs) * scale
    mlflow_cpu = median(r["cpu_seconds"] for r in theirs) * scale
    load = os.getloadavg()[0]
    import mlflow

    import jupyter_mltrack

    points = int(ours[0]["points"])
    note = ("" if mlflow_runs == args.runs else
            f"; MLflow read {mlflow_runs} of the runs, its time scaled to all")
    text = (
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, Python "
        f"{platform.python_version()}, jupyter_mltrack {jupyter_mltrack.__version__} vs MLflow "
        f"{mlflow.__version__}; one MLflow SQLite store of {args.runs:,} runs x {METRICS} "
        f"metrics x {STEPS:,} steps ({points:,} points); medians of {args.repeat} fresh "
        f"processes (ours) and {args.mlflow_repeat} (MLflow){note}; load average "
        f"{load:.1f} on {os.cpu_count()} cores at the end (a shared machine: the CPU "
        "seconds say more than the wall clock). Ours reads the store with one reader "
        "process per core (CPU seconds include them); the last two rows read it in the "
        "importing process alone (its reading thread and the writer share one process).\n\n"
        "| scenario | jupyter_mltrack | MLflow | ratio | target |\n|---|---|---|---|---|\n"
        f"| import everything (ours) / read everything (MLflow) | {ours_s:.1f} s | "
        f"{mlflow_s:.1f} s | {mlflow_s / ours_s:.1f}× | < 10 s |\n"
        f"| the same, CPU seconds (all processes) | {ours_cpu:.1f} s | {mlflow_cpu:.1f} s | "
        f"{mlflow_cpu / ours_cpu:.1f}× |  |\n"
        f"| of which the importing process / the reader processes | {own_cpu:.1f} s / "
        f"{readers_cpu:.1f} s |  |  |  |\n"
        f"| metric points per second | {points / ours_s:,.0f}/s | {points / mlflow_s:,.0f}/s |"
        f" {mlflow_s / ours_s:.1f}× |  |\n"
        f"| import everything, without reader processes | {single_s:.1f} s | {mlflow_s:.1f} s"
        f" | {mlflow_s / single_s:.1f}× | < 10 s |\n"
        f"| the same, CPU seconds | {single_cpu:.1f} s | {mlflow_cpu:.1f} s | "
        f"{mlflow_cpu / single_cpu:.1f}× |  |"
    )
    print(text)
    if args.write:
        RESULTS.write_text(json.dumps({"runs": args.runs, "points": points, "ours": ours,
                                       "ours_one_process": single,
                                       "mlflow": theirs, "mlflow_runs": mlflow_runs},
                                      indent=1) + "\n", encoding="utf-8")
        _write_readme(text)


if __name__ == "__main__":
    main()
