"""Remote logging throughput from one client: our client through ``mltrack server``
against MLflow's client through ``mlflow server``, side by side in one run.

Run in an environment that has both (MLflow is never a dependency of the project)::

    /tmp/bench/bin/python benchmarks/bench_remote.py [--points 50000] [--mlflow-points 1000]
                                                     [--repeat 3] [--write]

Each round starts both servers on fresh SQLite databases on loopback ports; one client
process per library creates a run and logs metric points one call at a time
(``mltrack.log_metric`` / ``mlflow.log_metric``), then ends the run, so every point is
on the server when the clock stops. The table gives medians of points per second and
the ratio; ``--write`` writes benchmarks/results/remote.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from statistics import median

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "remote.md"

OURS = """
import sys, time, json
import jupyter_mltrack as mltrack
n = int(sys.argv[1])
mltrack.set_experiment("bench")
t = time.perf_counter()
with mltrack.start_run():
    for i in range(n):
        mltrack.log_metric("loss", i * 0.5, step=i)
elapsed = time.perf_counter() - t
print("RESULT " + json.dumps({"seconds": elapsed}))
"""

THEIRS = """
import sys, time, json
import mlflow
n = int(sys.argv[1])
mlflow.set_experiment("bench")
t = time.perf_counter()
with mlflow.start_run():
    for i in range(n):
        mlflow.log_metric("loss", i * 0.5, step=i)
elapsed = time.perf_counter() - t
print("RESULT " + json.dumps({"seconds": elapsed}))
"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, proc: subprocess.Popen[bytes], path: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + path, timeout=2):  # noqa: S310 - our loopback URL
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"server at {url} did not start")


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **extra}
    env.pop("MLTRACK_TRACKING_URI", None)
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def _server(tool: str, work: Path) -> tuple[str, subprocess.Popen[bytes]]:
    port = _port()
    db = f"sqlite:///{work / (tool + '.db')}"
    if tool == "mltrack":
        cmd = [sys.executable, "-m", "jupyter_mltrack.cli", "server", "--backend-store-uri",
               db, "--artifacts-destination", str(work / "ours-artifacts"), "--port",
               str(port)]
        health = "/health"
    else:
        cmd = [str(Path(sys.executable).with_name("mlflow")), "server", "--backend-store-uri",
               db, "--artifacts-destination", str(work / "mlflow-artifacts"), "--host",
               "127.0.0.1", "--port", str(port), "--workers", "1"]
        health = "/health"
    proc = subprocess.Popen(cmd, cwd=work, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    _wait(url, proc, health)
    return url, proc


def one_round(tool: str, points: int, work: Path) -> float:
    """Points per second of one client process."""
    work.mkdir(parents=True)
    url, proc = _server(tool, work)
    try:
        env = _env(MLTRACK_TRACKING_URI=url, MLFLOW_TRACKING_URI=url,
                   MLTRACK_QUEUE_DIR=str(work / "queue"))
        out = subprocess.run([sys.executable, "-c", OURS if tool == "mltrack" else THEIRS,
                              str(points)], cwd=work, env=env, capture_output=True,
                             text=True, timeout=1800)
        if out.returncode:
            raise SystemExit(out.stderr[-3000:])
        line = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")][-1]
        return points / float(json.loads(line[7:])["seconds"])
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=50_000, help="points our client logs")
    parser.add_argument("--mlflow-points", type=int, default=1_000,
                        help="points MLflow's client logs (one request each)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    import mlflow  # noqa: F401 - fails early outside the benchmark environment

    rates: dict[str, list[float]] = {"mltrack": [], "mlflow": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            for tool in ("mltrack", "mlflow"):
                n = args.points if tool == "mltrack" else args.mlflow_points
                rates[tool].append(one_round(tool, n, Path(tmp) / f"{tool}-{i}"))
                print(f"{tool} round {i}: {rates[tool][-1]:,.0f} points/s", flush=True)
    ours, theirs = median(rates["mltrack"]), median(rates["mlflow"])
    import mlflow as m

    text = "\n".join([
        "# Remote logging: jupyter_mltrack's client and server vs MLflow's",
        "",
        f"Command: `python benchmarks/bench_remote.py --points {args.points} --mlflow-points "
        f"{args.mlflow_points} --repeat {args.repeat} --write`. One client process per "
        "library logs metric points one `log_metric` call at a time to its own server "
        "(`mltrack server` / `mlflow server --workers 1`) on a fresh SQLite database on "
        "loopback, and ends the run (every point is on the server when the clock stops); "
        f"medians over {args.repeat} rounds, the libraries alternating.",
        "",
        f"jupyter_mltrack (this branch) · MLflow {m.__version__} · Python "
        f"{platform.python_version()} · {time.strftime('%Y-%m-%d')}",
        "",
        "| | jupyter_mltrack | MLflow | ratio |",
        "| --- | ---: | ---: | ---: |",
        f"| points per second, one client | {ours:,.0f} | {theirs:,.0f} | "
        f"{ours / theirs:.0f}× |",
        "",
        "```json",
        json.dumps(rates, indent=1),
        "```",
        "",
    ])
    print(text)
    if args.write:
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(text)


if __name__ == "__main__":
    main()
