"""One benchmark scenario, run in a fresh process: ``python tracking_scenarios.py LIB NAME DIR N``.

LIB is ``ours`` (jupyter_mltrack) or ``mlflow``; each uses its own SQLite store in DIR.
Prints one JSON object with the measurements. Large stores for the search and history
scenarios are filled with direct SQL in each library's own schema (the same rows for
both), so that what is timed is the search or read, not the set-up.
"""

from __future__ import annotations

import json
import math
import os
import random
import sqlite3
import sys
import time
import uuid
from pathlib import Path
from statistics import median
from typing import Any

FILTER = "metrics.acc > 0.9 and params.lr = '0.01'"
LRS = ["0.0001", "0.0003", "0.001", "0.003", "0.01", "0.03", "0.1", "0.3", "1.0", "3.0"]


def _now_ms() -> int:
    return int(time.time() * 1000)


# -- ours ---------------------------------------------------------------------------------


def _ours(workdir: str) -> Any:
    os.chdir(workdir)
    import jupyter_mltrack as mltrack

    mltrack.set_tracking_uri(str(Path(workdir) / ".mltrack"))
    return mltrack


def ours_log_metric(workdir: str, n: int) -> dict[str, Any]:
    mltrack = _ours(workdir)
    with mltrack.start_run():
        for i in range(1000):  # warm-up
            mltrack.log_metric("warm", i)
        samples = []
        for _ in range(5):
            t = time.perf_counter()
            for i in range(n):
                mltrack.log_metric("loss", 1.0 / (i + 1))
            samples.append((time.perf_counter() - t) / n)
        mltrack.flush()
    return {"seconds_per_call": median(samples)}


def ours_log_batch(workdir: str, n: int) -> dict[str, Any]:
    mltrack = _ours(workdir)
    from jupyter_mltrack import Metric

    ts = _now_ms()
    batch = 10_000
    with mltrack.start_run():
        t = time.perf_counter()
        for b in range(n // batch):
            mltrack.log_batch([Metric("m", float(i), ts, b * batch + i) for i in range(batch)])
        elapsed = time.perf_counter() - t
    return {"points_per_second": n / elapsed}


def ours_log_metric_stream(workdir: str, n: int) -> dict[str, Any]:
    """log_metric in a loop, then flush: what a training loop sees end to end."""
    mltrack = _ours(workdir)
    with mltrack.start_run() as run:
        t = time.perf_counter()
        for i in range(n):
            mltrack.log_metric("loss", 1.0 / (i + 1), step=i)
        mltrack.flush()
        elapsed = time.perf_counter() - t
    stored = len(mltrack.get_metric_history(run.info.run_id, "loss", as_frame=True))
    return {"points_per_second": n / elapsed, "stored": stored}


def ours_empty_runs(workdir: str, n: int) -> dict[str, Any]:
    mltrack = _ours(workdir)
    mltrack.start_run()
    mltrack.end_run()  # first run creates the experiment
    t = time.perf_counter()
    for _ in range(n):
        mltrack.start_run()
        mltrack.end_run()
    return {"runs_per_second": n / (time.perf_counter() - t)}


def ours_create_runs(workdir: str, n: int) -> dict[str, Any]:
    mltrack = _ours(workdir)
    t = time.perf_counter()
    for i in range(n):
        with mltrack.start_run():
            mltrack.log_params({f"p{j}": f"{i}-{j}" for j in range(5)})
            mltrack.log_metrics({f"m{j}": i * 0.1 + j for j in range(5)})
    mltrack.flush()
    return {"runs_per_second": n / (time.perf_counter() - t)}


def _ours_fill(workdir: str, n_runs: int, history_points: int = 0) -> tuple[Any, str]:
    """n_runs runs (5 params incl. lr, 5 metrics incl. acc, 2 tags) by direct SQL."""
    mltrack = _ours(workdir)
    from jupyter_mltrack.store.sql import param_number

    exp_id = mltrack.set_experiment("bench").experiment_id
    db = Path(workdir) / ".mltrack" / "mltrack.db"
    con = sqlite3.connect(db)
    rnd = random.Random(0)
    now = _now_ms()
    runs, params, latest, tags = [], [], [], []
    for i in range(1, n_runs + 1):
        rid = uuid.UUID(int=rnd.getrandbits(128)).hex
        runs.append((i, rid, int(exp_id), f"run-{i}", "FINISHED", now - i, now - i + 5, "active",
                     "bench", f"/tmp/a/{rid}", now))
        lr = LRS[i % len(LRS)]
        for key, value in (("lr", lr), ("layers", str(i % 4)), ("opt", "adam"),
                           ("batch", "32"), ("seed", str(i))):
            params.append((i, key, value, param_number(value)))
        for key in ("acc", "loss", "f1", "auc", "time"):
            latest.append((i, key, rnd.random(), 0, now, 0))
        tags.append((i, "team", "vision" if i % 3 else "nlp"))
        tags.append((i, "mltrack.user", "bench"))
    con.executemany("INSERT INTO runs (id, run_uuid, experiment_id, name, status, start_time, "
                    "end_time, lifecycle_stage, user_id, artifact_uri, heartbeat) VALUES "
                    "(?,?,?,?,?,?,?,?,?,?,?)", runs)
    con.executemany("INSERT INTO params VALUES (?,?,?,?)", params)
    con.executemany("INSERT INTO latest_metrics VALUES (?,?,?,?,?,?)", latest)
    con.executemany("INSERT INTO tags VALUES (?,?,?)", tags)
    if history_points:
        # our native layout: the history in chunks of 100,000 points
        from array import array

        for lo in range(0, history_points, 100_000):
            steps = range(lo, min(lo + 100_000, history_points))
            con.execute(
                "INSERT INTO metric_chunks (run_id, key, n, min_step, max_step, steps, vals, "
                "timestamps) VALUES (?,?,?,?,?,?,?,?)",
                (1, "curve", len(steps), steps[0], steps[-1], array("q", steps).tobytes(),
                 array("d", (math.sin(s / 1000.0) for s in steps)).tobytes(),
                 array("q", (now + s for s in steps)).tobytes()),
            )
    con.commit()
    con.execute("ANALYZE")
    con.close()
    return mltrack, runs[0][1]


def ours_search(workdir: str, n: int) -> dict[str, Any]:
    mltrack, _ = _ours_fill(workdir, n)
    samples, rows = [], 0
    for _ in range(7):
        t = time.perf_counter()
        frame = mltrack.search_runs(filter_string=FILTER)
        samples.append(time.perf_counter() - t)
        rows = len(frame)
    return {"seconds": median(samples), "rows": rows}


def ours_load_frame(workdir: str, n: int) -> dict[str, Any]:
    mltrack, _ = _ours_fill(workdir, n)
    samples, shape = [], None
    for _ in range(5):
        t = time.perf_counter()
        frame = mltrack.search_runs()
        samples.append(time.perf_counter() - t)
        shape = frame.shape
    return {"seconds": median(samples), "shape": list(shape or ())}


def ours_history(workdir: str, n: int) -> dict[str, Any]:
    mltrack, run_id = _ours_fill(workdir, 1, history_points=n)
    out: dict[str, Any] = {}
    for label, as_frame in (("seconds_frame", True), ("seconds_list", False)):
        samples = []
        for _ in range(5):
            t = time.perf_counter()
            hist = mltrack.get_metric_history(run_id, "curve", as_frame=as_frame)
            samples.append(time.perf_counter() - t)
            assert len(hist) == n
        out[label] = median(samples)
    out["seconds"] = out["seconds_frame"]
    return out


def ours_concurrent_child(workdir: str, n: int, run_id: str) -> None:
    mltrack = _ours(workdir)
    client = mltrack.Client(mltrack.get_tracking_uri())
    for i in range(n):
        client.log_metric(run_id, f"worker-{os.getpid()}", float(i), step=i)
    client.flush()


def ours_concurrent(workdir: str, n: int) -> dict[str, Any]:
    import subprocess

    mltrack = _ours(workdir)
    run = mltrack.start_run()
    procs = [subprocess.Popen([sys.executable, __file__, "ours", "concurrent_child", workdir,
                               str(n), run.info.run_id], stderr=subprocess.PIPE, text=True)
             for _ in range(8)]
    t = time.perf_counter()
    errors = 0
    for p in procs:
        _, err = p.communicate()
        errors += p.returncode != 0
        if p.returncode != 0:
            print(err, file=sys.stderr)
    elapsed = time.perf_counter() - t
    mltrack.end_run()
    con = sqlite3.connect(Path(workdir) / ".mltrack" / "mltrack.db")
    stored = con.execute("SELECT sum(n) FROM metric_chunks WHERE key LIKE 'worker-%'"
                         ).fetchone()[0] or 0
    return {"errors": errors, "lost": 8 * n - stored, "points_per_second": 8 * n / elapsed}


# -- MLflow -------------------------------------------------------------------------------


def _mlflow(workdir: str) -> Any:
    os.chdir(workdir)
    import logging

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{workdir}/mlflow.db")
    mlflow.set_experiment("bench")
    return mlflow


def mlflow_log_metric(workdir: str, n: int) -> dict[str, Any]:
    mlflow = _mlflow(workdir)
    with mlflow.start_run():
        mlflow.log_metric("warm", 0)
        samples = []
        for _ in range(3):
            t = time.perf_counter()
            for i in range(n):
                mlflow.log_metric("loss", 1.0 / (i + 1))
            samples.append((time.perf_counter() - t) / n)
    return {"seconds_per_call": median(samples)}


def mlflow_log_metric_async(workdir: str, n: int) -> dict[str, Any]:
    mlflow = _mlflow(workdir)
    with mlflow.start_run():
        mlflow.log_metric("warm", 0)
        samples = []
        for _ in range(3):
            t = time.perf_counter()
            for i in range(n):
                mlflow.log_metric("loss", 1.0 / (i + 1), synchronous=False)
            samples.append((time.perf_counter() - t) / n)
        mlflow.flush_async_logging()
    return {"seconds_per_call": median(samples)}


def mlflow_log_batch(workdir: str, n: int) -> dict[str, Any]:
    mlflow = _mlflow(workdir)
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    ts = _now_ms()
    batch = 1000  # MLflow's limit per log_batch call
    with mlflow.start_run() as run:
        t = time.perf_counter()
        for b in range(n // batch):
            client.log_batch(run.info.run_id,
                             metrics=[Metric("m", float(i), ts, b * batch + i)
                                      for i in range(batch)])
        elapsed = time.perf_counter() - t
    return {"points_per_second": n / elapsed}


def mlflow_empty_runs(workdir: str, n: int) -> dict[str, Any]:
    mlflow = _mlflow(workdir)
    mlflow.start_run()
    mlflow.end_run()
    t = time.perf_counter()
    for _ in range(n):
        mlflow.start_run()
        mlflow.end_run()
    return {"runs_per_second": n / (time.perf_counter() - t)}


def mlflow_create_runs(workdir: str, n: int) -> dict[str, Any]:
    mlflow = _mlflow(workdir)
    t = time.perf_counter()
    for i in range(n):
        with mlflow.start_run():
            mlflow.log_params({f"p{j}": f"{i}-{j}" for j in range(5)})
            mlflow.log_metrics({f"m{j}": i * 0.1 + j for j in range(5)})
    return {"runs_per_second": n / (time.perf_counter() - t)}


def _mlflow_fill(workdir: str, n_runs: int, history_points: int = 0) -> tuple[Any, str]:
    """The same rows as _ours_fill, in MLflow's schema, copying a real run as template."""
    mlflow = _mlflow(workdir)
    with mlflow.start_run() as template:
        pass
    db = f"{workdir}/mlflow.db"
    mlflow_exp = template.info.experiment_id
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    trow = dict(con.execute("SELECT * FROM runs WHERE run_uuid = ?",
                            (template.info.run_id,)).fetchone())
    con.execute("DELETE FROM tags WHERE run_uuid = ?", (template.info.run_id,))
    con.execute("DELETE FROM runs WHERE run_uuid = ?", (template.info.run_id,))
    cols = list(trow)
    rnd = random.Random(0)
    now = _now_ms()
    runs, params, latest, tags = [], [], [], []
    first = ""
    for i in range(1, n_runs + 1):
        rid = uuid.UUID(int=rnd.getrandbits(128)).hex
        first = first or rid
        row = dict(trow, run_uuid=rid, name=f"run-{i}", status="FINISHED", start_time=now - i,
                   end_time=now - i + 5, experiment_id=mlflow_exp,
                   artifact_uri=f"/tmp/a/{rid}")
        runs.append(tuple(row[c] for c in cols))
        lr = LRS[i % len(LRS)]
        for key, value in (("lr", lr), ("layers", str(i % 4)), ("opt", "adam"),
                           ("batch", "32"), ("seed", str(i))):
            params.append((key, value, rid))
        for key in ("acc", "loss", "f1", "auc", "time"):
            latest.append({"key": key, "value": rnd.random(), "timestamp": now, "step": 0,
                           "is_nan": 0, "run_uuid": rid})
        tags.append(("team", "vision" if i % 3 else "nlp", rid))
        tags.append(("mlflow.user", "bench", rid))
    con.executemany(f"INSERT INTO runs ({','.join(cols)}) VALUES "
                    f"({','.join('?' * len(cols))})", runs)
    con.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?,?,?)", params)
    con.executemany("INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
                    "VALUES (:key,:value,:timestamp,:step,:is_nan,:run_uuid)", latest)
    con.executemany("INSERT INTO metrics (key, value, timestamp, step, is_nan, run_uuid) "
                    "VALUES (:key,:value,:timestamp,:step,:is_nan,:run_uuid)", latest)
    con.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?,?,?)", tags)
    if history_points:
        con.executemany(
            "INSERT INTO metrics (key, value, timestamp, step, is_nan, run_uuid) "
            "VALUES (?,?,?,?,?,?)",
            (("curve", math.sin(s / 1000.0), now + s, s, 0, first)
             for s in range(history_points)),
        )
    con.commit()
    con.execute("ANALYZE")
    con.close()
    return mlflow, first


def mlflow_search(workdir: str, n: int) -> dict[str, Any]:
    mlflow, _ = _mlflow_fill(workdir, n)
    exp = mlflow.get_experiment_by_name("bench").experiment_id
    samples, rows = [], 0
    for _ in range(3):
        t = time.perf_counter()
        frame = mlflow.search_runs(experiment_ids=[exp], filter_string=FILTER)
        samples.append(time.perf_counter() - t)
        rows = len(frame)
    return {"seconds": median(samples), "rows": rows}


def mlflow_load_frame(workdir: str, n: int) -> dict[str, Any]:
    mlflow, _ = _mlflow_fill(workdir, n)
    exp = mlflow.get_experiment_by_name("bench").experiment_id
    samples, shape = [], None
    for _ in range(3):
        t = time.perf_counter()
        frame = mlflow.search_runs(experiment_ids=[exp])
        samples.append(time.perf_counter() - t)
        shape = frame.shape
    return {"seconds": median(samples), "shape": list(shape or ())}


def mlflow_history(workdir: str, n: int) -> dict[str, Any]:
    _, run_id = _mlflow_fill(workdir, 1, history_points=n)
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    samples = []
    for _ in range(3):
        t = time.perf_counter()
        hist = client.get_metric_history(run_id, "curve")
        samples.append(time.perf_counter() - t)
        assert len(hist) == n
    return {"seconds": median(samples)}


def mlflow_concurrent_child(workdir: str, n: int, run_id: str) -> None:
    mlflow = _mlflow(workdir)
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    failures = 0
    for i in range(n):
        try:
            client.log_metric(run_id, f"worker-{os.getpid()}", float(i), step=i)
        except Exception:
            failures += 1
    del mlflow
    if failures:
        print(f"{failures} failed", file=sys.stderr)
        sys.exit(1)


def mlflow_concurrent(workdir: str, n: int) -> dict[str, Any]:
    import subprocess

    mlflow = _mlflow(workdir)
    run = mlflow.start_run()
    procs = [subprocess.Popen([sys.executable, __file__, "mlflow", "concurrent_child", workdir,
                               str(n), run.info.run_id], stderr=subprocess.PIPE, text=True)
             for _ in range(8)]
    t = time.perf_counter()
    errors = 0
    for p in procs:
        p.communicate()
        errors += p.returncode != 0
    elapsed = time.perf_counter() - t
    mlflow.end_run()
    con = sqlite3.connect(f"{workdir}/mlflow.db")
    stored = con.execute("SELECT count(*) FROM metrics WHERE key LIKE 'worker-%'").fetchone()[0]
    return {"errors": errors, "lost": 8 * n - stored, "points_per_second": 8 * n / elapsed}


if __name__ == "__main__":
    lib, name, workdir, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    fn = globals()[f"{lib}_{name}"]
    extra = sys.argv[5:]
    result = fn(workdir, n, *extra)
    if result is not None:
        print("RESULT " + json.dumps(result))
