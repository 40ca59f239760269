"""Team server benchmarks: ``mltrack server`` against ``mlflow server`` on one PostgreSQL.

Run in the benchmark environment (MLflow and this package, plus psycopg)::

    /tmp/bench/bin/pip install "psycopg[binary]"
    PYTHONPATH=. /tmp/bench/bin/python benchmarks/bench_team_server.py [--repeat 3] [--write]

A throwaway PostgreSQL cluster is started on loopback (initdb/pg_ctl, as the tests do);
each server gets a fresh database in it and a local artifact folder, runs with 2 workers
on 127.0.0.1, and is driven by the same client: MLflow's own ``MlflowClient`` (both
servers speak MLflow's REST API), so the difference is the server. Scenarios: one
``log_metric`` per request; ``log_batch`` of 1,000 points; 16 concurrent clients logging
batches for 10 s; ``create_run`` + ``get_run``; a filtered ``search_runs`` over 2,000
runs; a 1 MB artifact upload and download. Medians over ``--repeat`` fresh server pairs;
``--write`` puts the table in benchmarks/README.md between the ``team-server`` markers.

``--million N`` instead fills each server's schema with N runs inside PostgreSQL
(``million_runs.py``) and times ``search_runs`` with ``metrics.acc > 0.9 and
params.model = 'x'``, ``max_results=100``, ordered by ``metrics.acc DESC``, through each
server (medians of 7 calls after one warm-up, with the 1-minute load average then); the
numbers go to ``results/team_server_million.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from statistics import median

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
README = HERE / "README.md"
RESULTS = HERE / "results" / "team_server.json"
BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

from tests._postgres import PostgresServer  # noqa: E402 - the tests' throwaway cluster

ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
       "PYTHONPATH": str(REPO), "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
CLIENTS = 16
LOAD_SECONDS = 10.0
#: points per log_batch request in the 16-client scenario (MLflow's log_batch allows 1,000)
LOAD_BATCH = 1000
MILLION_FILTER = "metrics.acc > 0.9 and params.model = 'x'"
SEARCH_RUNS = 2_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(kind: str, db_url: str, folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    artifacts = folder / f"{kind}-artifacts"
    uri = db_url.replace("postgresql://", "postgresql+psycopg://")
    if kind == "ours":
        cmd = [str(BIN / "mltrack"), "server", "--backend-store-uri", db_url,
               "--artifacts-destination", str(artifacts), "--port", str(port),
               "--workers", "2"]
    else:
        cmd = [str(BIN / "mlflow"), "server", "--backend-store-uri", uri,
               "--artifacts-destination", str(artifacts), "--host", "127.0.0.1",
               "--port", str(port), "--workers", "2"]
    log = open(folder / f"{kind}.log", "ab")
    proc = subprocess.Popen(cmd, env=ENV, stdout=log, stderr=log, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    import requests

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{kind} server exited: {(folder / f'{kind}.log').read_text()}")
        try:
            if requests.get(url + "/health", timeout=2).status_code == 200:
                return proc, url
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{kind} server did not start")


def stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def scenarios(url: str, folder: Path) -> dict[str, float]:
    import logging

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    client = MlflowClient(url)
    exp = client.create_experiment(f"bench-{time.monotonic_ns()}")
    out: dict[str, float] = {}
    run = client.create_run(exp).info.run_id

    n = 300
    t0 = time.perf_counter()
    for i in range(n):
        client.log_metric(run, "m", float(i), step=i)
    out["log_metric_ms"] = (time.perf_counter() - t0) / n * 1000

    batches, size = 20, 1000
    t0 = time.perf_counter()
    for b in range(batches):
        metrics = [Metric("b", float(i), 1, b * size + i) for i in range(size)]
        client.log_batch(run, metrics=metrics)
    out["log_batch_pts"] = batches * size / (time.perf_counter() - t0)

    acked = [0] * CLIENTS
    errors: list[str] = []
    stop_at = time.perf_counter() + LOAD_SECONDS

    def worker(k: int) -> None:
        own = MlflowClient(url)
        rid = own.create_run(exp).info.run_id
        step = 0
        while time.perf_counter() < stop_at:
            try:
                own.log_batch(rid, metrics=[Metric("load", 1.0, 1, step + i)
                                            for i in range(LOAD_BATCH)])
            except Exception as exc:  # counted, not hidden
                errors.append(type(exc).__name__)
                return
            step += LOAD_BATCH
            acked[k] += LOAD_BATCH

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out["load_pts"] = sum(acked) / (time.perf_counter() - t0)
    out["load_errors"] = float(len(errors))

    t0 = time.perf_counter()
    for _ in range(50):
        rid = client.create_run(exp).info.run_id
        client.get_run(rid)
    out["create_get_ms"] = (time.perf_counter() - t0) / 50 * 1000

    search_exp = client.create_experiment(f"search-{time.monotonic_ns()}")
    for i in range(SEARCH_RUNS // 100):
        rids = [client.create_run(search_exp).info.run_id for _ in range(100)]
        for j, rid in enumerate(rids):
            client.log_batch(rid, metrics=[Metric("acc", ((i * 100 + j) % 97) / 97, 1, 0)],
                             params=[])
    times = []
    found = 0
    for _ in range(5):
        t0 = time.perf_counter()
        found = len(client.search_runs([search_exp], "metrics.acc > 0.9", max_results=1000))
        times.append(time.perf_counter() - t0)
    out["search_ms"] = median(times) * 1000
    out["search_found"] = float(found)

    blob = folder / "blob.bin"
    blob.write_bytes(os.urandom(1 << 20))
    t0 = time.perf_counter()
    for _ in range(10):
        client.log_artifact(run, str(blob), "files")
    out["upload_ms"] = (time.perf_counter() - t0) / 10 * 1000
    t0 = time.perf_counter()
    for k in range(10):
        client.download_artifacts(run, "files/blob.bin", str(folder / f"dl{k}"))
    out["download_ms"] = (time.perf_counter() - t0) / 10 * 1000
    return out


ROWS = [  # key, label, unit, higher is better
    ("log_metric_ms", "`log_metric`, one request per point", "ms", False),
    ("log_batch_pts", "`log_batch` of 1,000 points (points/s)", "/s", True),
    ("load_pts", f"{CLIENTS} clients logging batches of {LOAD_BATCH:,} for {LOAD_SECONDS:g} s "
                 "(points/s)", "/s", True),
    ("create_get_ms", "`create_run` + `get_run`", "ms", False),
    ("search_ms", f"filtered `search_runs`, {SEARCH_RUNS:,} runs", "ms", False),
    ("upload_ms", "1 MB artifact upload through the proxy", "ms", False),
    ("download_ms", "1 MB artifact download through the proxy", "ms", False),
]


def table(results: dict[str, list[dict[str, float]]], repeat: int) -> str:
    import mlflow

    from jupyter_mltrack import __version__

    lines = [f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, Python "
             f"{platform.python_version()}, jupyter_mltrack {__version__} vs MLflow "
             f"{mlflow.__version__}, both servers with 2 workers on the same PostgreSQL "
             f"(fresh database each), driven by MLflow's own client; medians of {repeat} "
             "fresh server pairs. Ratio: how many times better `mltrack server` is.", "",
             "| scenario | mltrack server | mlflow server | ratio |", "|---|---|---|---|"]
    for key, label, unit, higher in ROWS:
        ours = median(r[key] for r in results["ours"])
        theirs = median(r[key] for r in results["mlflow"])
        ratio = ours / theirs if higher else theirs / ours
        fmt = (lambda x: f"{x:,.0f}/s") if unit == "/s" else (lambda x: f"{x:,.2f} ms")
        lines.append(f"| {label} | {fmt(ours)} | {fmt(theirs)} | {ratio:,.2f}× |")
    errors = {k: sum(r["load_errors"] for r in v) for k, v in results.items()}
    found = {k: median(r["search_found"] for r in v) for k, v in results.items()}
    lines.append("")
    lines.append(f"Load errors: ours {errors['ours']:g}, MLflow {errors['mlflow']:g}. "
                 f"Search matches: ours {found['ours']:g}, MLflow {found['mlflow']:g}.")
    return "\n".join(lines)


def write(text: str) -> None:
    readme = README.read_text()
    start, end = "<!-- team-server:start -->", "<!-- team-server:end -->"
    block = f"{start}\n{text}\n{end}"
    if start in readme:
        head, rest = readme.split(start, 1)
        readme = head + block + rest.split(end, 1)[1]
    else:
        readme += ("\n## Team server\n\n`bench_team_server.py`: `mltrack server` and "
                   "`mlflow server` side by side on one PostgreSQL.\n\n" + block + "\n")
    README.write_text(readme)


def million(pg: PostgresServer, n: int) -> dict[str, dict[str, float]]:
    """Fill each server's schema with ``n`` runs and time the filtered, ordered search."""
    import logging

    import million_runs
    from mlflow import MlflowClient

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    out: dict[str, dict[str, float]] = {}
    for kind in ("ours", "mlflow"):
        folder = Path(tempfile.mkdtemp(prefix=f"bench-million-{kind}-"))
        db = pg.new_database()
        proc, url = start(kind, db, folder)
        try:
            client = MlflowClient(url)
            exp = client.create_experiment(f"million-{kind}")
            fill = million_runs.fill_ours if kind == "ours" else million_runs.fill_mlflow
            seconds = fill(db, int(exp), n, str(folder / "artifacts"))
            times = []
            found = 0
            for k in range(8):
                t0 = time.perf_counter()
                found = len(client.search_runs([exp], MILLION_FILTER, max_results=100,
                                               order_by=["metrics.acc DESC"]))
                if k:  # the first call warms the caches
                    times.append(time.perf_counter() - t0)
            out[kind] = {"fill_s": seconds, "search_ms": median(times) * 1000,
                         "load_average": os.getloadavg()[0], "found": float(found),
                         "matches": float(million_runs.count_matches(db, n))}
        finally:
            stop(proc)
            pg.drop_database(db)
        print(kind, out[kind], flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--from-results", action="store_true",
                        help="Render the table from benchmarks/results/team_server.json.")
    parser.add_argument("--million", type=int, default=0, metavar="N",
                        help="Only the search over N generated runs (e.g. 1000000).")
    args = parser.parse_args()
    if args.million:
        pg = PostgresServer()
        pg.start()
        if pg.unavailable:
            raise SystemExit(pg.unavailable)
        try:
            found = million(pg, args.million)
        finally:
            pg.stop()
        found["runs"] = {"n": float(args.million)}
        (RESULTS.parent / "team_server_million.json").write_text(json.dumps(found, indent=1))
        ratio = found["mlflow"]["search_ms"] / found["ours"]["search_ms"]
        print(f"search over {args.million:,} runs: ours {found['ours']['search_ms']:,.0f} ms, "
              f"MLflow {found['mlflow']['search_ms']:,.0f} ms, ratio {ratio:,.2f}x")
        return
    if args.from_results:
        saved = json.loads(RESULTS.read_text())
        text = table(saved["results"], saved["repeat"])
        print(text)
        if args.write:
            write(text)
        return
    pg = PostgresServer()
    pg.start()
    if pg.unavailable:
        raise SystemExit(pg.unavailable)
    results: dict[str, list[dict[str, float]]] = {"ours": [], "mlflow": []}
    try:
        for _ in range(args.repeat):
            for kind in ("ours", "mlflow"):
                folder = Path(tempfile.mkdtemp(prefix=f"bench-team-{kind}-"))
                db = pg.new_database()
                proc, url = start(kind, db, folder)
                try:
                    results[kind].append(scenarios(url, folder))
                finally:
                    stop(proc)
                    pg.drop_database(db)
                print(kind, {k: round(v, 2) for k, v in results[kind][-1].items()},
                      flush=True)
    finally:
        pg.stop()
    RESULTS.write_text(json.dumps({"repeat": args.repeat, "results": results}, indent=1))
    text = table(results, args.repeat)
    print(text)
    if args.write:
        write(text)


if __name__ == "__main__":
    main()
