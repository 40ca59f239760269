"""Scoring server benchmarks: ``mltrack models serve`` against ``mlflow models serve``.

Run in an environment that has both (MLflow is never a dependency of the project)::

    python -m venv /tmp/bench && /tmp/bench/bin/pip install mlflow -e ".[models]"
    /tmp/bench/bin/python benchmarks/bench_serving.py [--repeat 3] [--write]

The same small scikit-learn model (a LogisticRegression on four columns) is saved once
by each library, then each server is started in a fresh process on 127.0.0.1, one after
the other, ``--repeat`` times. Measured: ready time (process start to the first 200 on
``/ping``); one-row ``POST /invocations`` latency (p50, p99) and requests/s with 1 and
with 8 concurrent clients (keep-alive connections, threads of this process); the batch
path as rows/s, both through the server (one 10,000-row request) and through the batch
command (``models predict`` on a 200,000-row CSV). Both libraries start from bytecode,
as installed packages do: this package is byte-compiled first. Medians over the
repeats; ``--write`` puts the table in benchmarks/README.md between the ``serving``
markers.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from statistics import median
from typing import Any

HERE = Path(__file__).resolve().parent
README = HERE / "README.md"
BIN = Path(sys.executable).parent
# mlflow starts uvicorn by name through a shell: the environment's bin folder comes first.
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
COLUMNS = ["a", "b", "c", "d"]
ONE_ROW = json.dumps({"dataframe_split": {"columns": COLUMNS,
                                          "data": [[0.5, -1.0, 2.0, 0.1]]}}).encode()
BATCH_ROWS = 10_000
CLI_ROWS = 200_000

SAVE = """
import sys, warnings
warnings.filterwarnings("ignore")
import numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression
rng = np.random.default_rng(0)
X = pd.DataFrame(rng.normal(size=(200, 4)), columns=["a", "b", "c", "d"])
y = (X["a"] + X["b"] > 0).astype(int)
model = LogisticRegression().fit(X, y)
import jupyter_mltrack as mltrack
mltrack.save_model(model, sys.argv[1] + "/ours", input_example=X[:3], progress=False)
import logging; logging.getLogger("mlflow").setLevel(logging.ERROR)
import mlflow.sklearn
mlflow.sklearn.save_model(model, sys.argv[1] + "/mlflow", input_example=X[:3])
big = pd.DataFrame(rng.normal(size=(int(sys.argv[2]), 4)), columns=["a", "b", "c", "d"])
big.to_csv(sys.argv[1] + "/batch.csv", index=False)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_command(kind: str, folder: Path, port: int) -> list[str]:
    if kind == "ours":
        return [str(BIN / "mltrack"), "models", "serve", "-m", str(folder / "ours"),
                "--host", "127.0.0.1", "--port", str(port)]
    return [str(BIN / "mlflow"), "models", "serve", "-m", str(folder / "mlflow"),
            "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)]


def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 300) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/ping")
            if conn.getresponse().status == 200:
                conn.close()
                return time.perf_counter()
            conn.close()
        except OSError:
            pass
        time.sleep(0.01)
    raise RuntimeError(f"no 200 on /ping within {timeout} s")


def one_client(port: int, n: int, out: list[float], errors: list[str]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json"}
    for _ in range(n):
        t = time.perf_counter()
        conn.request("POST", "/invocations", ONE_ROW, headers)
        response = conn.getresponse()
        response.read()
        out.append(time.perf_counter() - t)
        if response.status != 200:
            errors.append(str(response.status))
    conn.close()


def load(port: int, clients: int, per_client: int) -> dict[str, Any]:
    samples: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    threads = [threading.Thread(target=one_client, args=(port, per_client, s, errors))
               for s in samples]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests: {errors[:3]}")
    return {"samples": [x for s in samples for x in s], "wall": wall}


def batch_request(port: int) -> float:
    import numpy as np

    rows = np.random.default_rng(1).normal(size=(BATCH_ROWS, 4)).round(6).tolist()
    body = json.dumps({"dataframe_split": {"columns": COLUMNS, "data": rows}}).encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    times = []
    for _ in range(2):
        t = time.perf_counter()
        conn.request("POST", "/invocations", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        answer = json.loads(response.read())
        times.append(time.perf_counter() - t)
        assert response.status == 200 and len(answer["predictions"]) == BATCH_ROWS
    conn.close()
    return BATCH_ROWS / median(times)


def cli_batch(kind: str, folder: Path) -> float:
    out = folder / f"out-{kind}"
    if kind == "ours":
        cmd = [str(BIN / "mltrack"), "models", "predict", "-m", str(folder / "ours"), "-i",
               str(folder / "batch.csv"), "-o", str(out) + ".csv"]
    else:
        cmd = [str(BIN / "mlflow"), "models", "predict", "-m", str(folder / "mlflow"), "-i",
               str(folder / "batch.csv"), "-t", "csv", "--env-manager", "local", "-o",
               str(out) + ".json"]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=ENV)
    return CLI_ROWS / (time.perf_counter() - t)


def start_server(kind: str, folder: Path) -> tuple[subprocess.Popen[bytes], int, float]:
    """A server process, its port, and its ready time (start to the first 200 on /ping)."""
    port = free_port()
    start = time.perf_counter()
    proc = subprocess.Popen(server_command(kind, folder, port), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=ENV, start_new_session=True)
    try:
        return proc, port, wait_ready(port, proc) - start
    except BaseException:
        stop_server(proc)
        raise


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    # mlflow runs uvicorn as a child process: stop the whole session this started.
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def merge(blocks: list[dict[str, Any]]) -> dict[str, float]:
    flat = sorted(x for b in blocks for x in b["samples"])
    wall = sum(b["wall"] for b in blocks)
    return {"p50": flat[len(flat) // 2], "p99": flat[int(len(flat) * 0.99) - 1],
            "rps": len(flat) / wall}


def measure_pair(folder: Path, requests: int, order: tuple[str, str]
                 ) -> dict[str, dict[str, float]]:
    """Both servers up at once; load alternates between them in small blocks, so that the
    noise of a shared machine falls on both alike."""
    procs: dict[str, subprocess.Popen[bytes]] = {}
    ports: dict[str, int] = {}
    out: dict[str, dict[str, float]] = {k: {} for k in order}
    try:
        for kind in order:  # started one at a time: ready time is measured alone
            procs[kind], ports[kind], out[kind]["ready"] = start_server(kind, folder)
        for kind in order:
            load(ports[kind], 1, 50)  # warm up
        single: dict[str, list[dict[str, Any]]] = {k: [] for k in order}
        eight: dict[str, list[dict[str, Any]]] = {k: [] for k in order}
        rows: dict[str, list[float]] = {k: [] for k in order}
        blocks = max(1, requests // 25)
        for _ in range(blocks):
            for kind in order:
                single[kind].append(load(ports[kind], 1, 25))
            for kind in order:
                eight[kind].append(load(ports[kind], 8, 5))
        for _ in range(3):
            for kind in order:
                rows[kind].append(batch_request(ports[kind]))
        for kind in order:
            one, many = merge(single[kind]), merge(eight[kind])
            out[kind].update({"p50_1": one["p50"], "p99_1": one["p99"], "rps_1": one["rps"],
                              "p50_8": many["p50"], "p99_8": many["p99"],
                              "rps_8": many["rps"], "batch_http": median(rows[kind])})
    finally:
        for proc in procs.values():
            stop_server(proc)
    for kind in order:
        out[kind]["batch_cli"] = cli_batch(kind, folder)
    return out


ROWS = [
    ("ready", "ready: process start → first 200 on `/ping`", "s", "< 2 s"),
    ("p50_1", "one-row request, 1 client, p50", "ms", "< 2 ms"),
    ("p99_1", "one-row request, 1 client, p99", "ms", ""),
    ("rps_1", "one-row requests/s, 1 client", "rps", ""),
    ("p50_8", "one-row request, 8 clients, p50", "ms", ""),
    ("p99_8", "one-row request, 8 clients, p99", "ms", ""),
    ("rps_8", "one-row requests/s, 8 clients", "rps", ""),
    ("batch_http", f"batch through the server ({BATCH_ROWS:,}-row request), rows/s", "rows", ""),
    ("batch_cli", f"batch command on a {CLI_ROWS:,}-row CSV (`models predict`), rows/s",
     "rows", ""),
]


def fmt(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "ms":
        return f"{value * 1000:.2f} ms"
    return f"{value:,.0f}/s"


def table(ours: dict[str, float], theirs: dict[str, float], repeat: int) -> str:
    import mlflow

    import jupyter_mltrack

    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, Python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs (shared), jupyter_mltrack "
        f"{jupyter_mltrack.__version__} vs MLflow {mlflow.__version__}; both on uvicorn with "
        f"one worker, the same LogisticRegression, medians of {repeat} fresh server processes "
        "each, both up at once with the load alternating between them in small blocks. "
        f"Load average during the run: {os.getloadavg()[0]:.1f}. Ratio: how many times "
        "better ours is.",
        "",
        "| measure | jupyter_mltrack | MLflow | ratio | target |",
        "|---|---|---|---|---|",
    ]
    for key, label, unit, target in ROWS:
        a, b = ours[key], theirs[key]
        ratio = b / a if unit in ("s", "ms") else a / b
        lines.append(f"| {label} | {fmt(a, unit)} | {fmt(b, unit)} | {ratio:,.1f}× | "
                     f"{target} |")
    return "\n".join(lines)


def write(text: str) -> None:
    start, end = "<!-- serving:start -->", "<!-- serving:end -->"
    readme = README.read_text(encoding="utf-8")
    if start not in readme:
        raise SystemExit("benchmarks/README.md has no serving markers")
    head, rest = readme.split(start, 1)
    _, tail = rest.split(end, 1)
    README.write_text(f"{head}{start}\n{text}\n{end}{tail}", encoding="utf-8")


def compile_package() -> None:
    """Byte-compile the package the servers import, as ``pip install`` does for a wheel
    (MLflow and scikit-learn here start from bytecode too); a source tree run with
    PYTHONDONTWRITEBYTECODE set would otherwise compile it again at every start."""
    import compileall

    import jupyter_mltrack

    compileall.compile_dir(str(Path(jupyter_mltrack.__file__).parent), quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--requests", type=int, default=400,
                        help="one-row requests per measurement (bounded)")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    if shutil.which("mlflow", path=str(BIN)) is None:
        raise SystemExit(f"mlflow is not installed next to {sys.executable}")
    compile_package()
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        folder = Path(tmp)
        subprocess.run([sys.executable, "-c", SAVE, tmp, str(CLI_ROWS)], check=True)
        results: dict[str, list[dict[str, float]]] = {"ours": [], "mlflow": []}
        for i in range(args.repeat):
            order = ("ours", "mlflow") if i % 2 == 0 else ("mlflow", "ours")
            pair = measure_pair(folder, args.requests, order)
            for kind, result in pair.items():
                results[kind].append(result)
                print(f"repeat {i + 1} {kind}: " + json.dumps(
                    {k: round(v, 5) for k, v in result.items()}), flush=True)
    med = {kind: {key: median(r[key] for r in runs) for key in runs[0]}
           for kind, runs in results.items()}
    text = table(med["ours"], med["mlflow"], args.repeat)
    print(text)
    if args.write:
        write(text)


if __name__ == "__main__":
    main()
