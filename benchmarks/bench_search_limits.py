"""Hostile search filters: jupyter_mltrack against MLflow side by side in one run.

Run in an environment that has both (MLflow is never a dependency of the project)::

    python -m venv /tmp/bench && /tmp/bench/bin/pip install mlflow -e .
    /tmp/bench/bin/python benchmarks/bench_search_limits.py [--repeat 5] [--write]

Each library, in a fresh process on a fresh SQLite store holding one run, calls
``search_runs`` with filters built to be expensive, at 1,000, 8,000 and 20,000
characters: a malformed number (a long run of digits ending in a letter), a long
``IN`` list of run ids, many ``AND``-ed conditions, and deep parentheses. It reports the median
CPU time of the call (refusing counts: a refusal is the right answer for most of
these) and what came back. A call that takes longer than ``--budget`` seconds is
measured once and not repeated; a library process that exceeds ``--timeout`` is
reported as timed out. ``--write`` puts the table in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
README = HERE / "README.md"
SIZES = (1_000, 8_000, 20_000)


def filters(size: int, run_id: str = "0" * 32) -> dict[str, str]:
    """The hostile filters, each about ``size`` characters long; the IN list ends with
    ``run_id``, so that it matches that run."""
    head = "metrics.a > "
    n_in = (size - len("attributes.run_id IN ()")) // 35
    ids = [f"'{i:032x}'" for i in range(1, n_in)] + [f"'{run_id}'"]
    n_and = size // len("metrics.a > 0 AND ")
    depth = (size - len("metrics.a > 0")) // 2
    return {
        "malformed number": head + "1" * (size - len(head) - 1) + "x",
        "long IN list of run ids": "attributes.run_id IN (" + ",".join(ids) + ")",
        "many AND-ed conditions": " AND ".join(["metrics.a > 0"] * n_and),
        "deep parentheses": "(" * depth + "metrics.a > 0" + ")" * depth,
    }


WORKER = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
library, uri, sizes, repeat, budget = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), \
    int(sys.argv[4]), float(sys.argv[5])
sys.path.insert(0, sys.argv[6])
from bench_search_limits import filters

if library == "ours":
    from jupyter_mltrack import Client
    client = Client(uri)
    exp = client.create_experiment("bench")
    run = client.create_run(exp)
    client.log_metric(run.info.run_id, "a", 1.0)
    client.log_param(run.info.run_id, "p", "7")
    client.flush()
    search = lambda text: client.search_runs([exp], text)
else:
    import logging
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    import mlflow
    from mlflow import MlflowClient
    mlflow.set_tracking_uri(uri)
    client = MlflowClient()
    exp = client.create_experiment("bench")
    run = client.create_run(exp)
    client.log_metric(run.info.run_id, "a", 1.0)
    client.log_param(run.info.run_id, "p", "7")
    search = lambda text: client.search_runs([exp], text)

search("metrics.a > 0")  # warm-up: imports, connections, statement caches
for size in sizes:
    for name, text in filters(size, run.info.run_id).items():
        samples, outcome = [], ""
        for _ in range(repeat):
            start = time.process_time()
            try:
                found = search(text)
                outcome = f"answered, {len(found)} run(s)"
            except BaseException as exc:  # a RecursionError is a result here, too
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                first = first if len(first) <= 48 else first[:47].rstrip() + "…"
                outcome = f"{type(exc).__name__}: {first}".replace("|", "/")
            samples.append(time.process_time() - start)
            if samples[-1] > budget:
                break
        samples.sort()
        print("RESULT " + json.dumps({"case": name, "size": size, "chars": len(text),
                                      "cpu": samples[len(samples) // 2], "runs": len(samples),
                                      "outcome": outcome}), flush=True)
"""


def measure(library: str, python: str, repeat: int, budget: float, timeout: float
            ) -> dict[tuple[str, int], dict[str, object]]:
    out: dict[tuple[str, int], dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix=f"bench-search-{library}-") as folder:
        uri = f"sqlite:///{folder}/store.db"
        env = {**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true"}
        try:
            proc = subprocess.run(
                [python, "-c", WORKER, library, uri, json.dumps(SIZES), str(repeat),
                 str(budget), str(HERE)], capture_output=True, text=True, timeout=timeout,
                env=env, check=False)
            stdout, stderr = proc.stdout, proc.stderr
        except subprocess.TimeoutExpired as exc:
            stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
            stderr = f"timed out after {timeout:.0f} s"
        for line in stdout.splitlines():
            if line.startswith("RESULT "):
                row = json.loads(line[len("RESULT "):])
                out[(row["case"], row["size"])] = row
        if len(out) < len(SIZES) * 4:
            print(f"{library}: {stderr.strip().splitlines()[-1:] or 'no output'}",
                  file=sys.stderr)
    return out


def _time(row: dict[str, object] | None) -> str:
    if row is None:
        return "timed out"
    cpu = float(row["cpu"])  # type: ignore[arg-type]
    text = f"{cpu * 1000:,.1f} ms" if cpu < 10 else f"{cpu:,.1f} s"
    return text if row["runs"] != 1 else text + " (once)"


def table(ours: dict, theirs: dict, repeat: int) -> str:
    import jupyter_mltrack

    try:
        from importlib.metadata import version
        mlflow_version = version("mlflow")
    except Exception:
        mlflow_version = "?"
    lines = [
        f"Measured on {platform.machine()}, Python {platform.python_version()}, "
        f"jupyter_mltrack {jupyter_mltrack.__version__} vs MLflow {mlflow_version}, both on "
        f"SQLite with one run; CPU time of one `search_runs` call, median of {repeat} "
        "(calls slower than the budget measured once).",
        "",
        "| filter | length | jupyter_mltrack | outcome | MLflow | outcome | ratio |",
        "|---|---:|---:|---|---:|---|---:|",
    ]
    for size in SIZES:
        for case in filters(size):
            a, b = ours.get((case, size)), theirs.get((case, size))
            ratio = ""
            if a is not None and b is not None and float(a["cpu"]) > 0:
                ratio = f"{float(b['cpu']) / float(a['cpu']):,.1f}×"
            chars = (a or b or {"chars": size})["chars"]
            lines.append(f"| {case} | {chars:,} | {_time(a)} | {(a or {}).get('outcome', '')} "
                         f"| {_time(b)} | {(b or {}).get('outcome', '')} | {ratio} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--budget", type=float, default=5.0,
                        help="seconds of CPU after which a call is not repeated")
    parser.add_argument("--timeout", type=float, default=900.0,
                        help="seconds a library's whole process may take")
    parser.add_argument("--python", default=sys.executable,
                        help="the interpreter with both libraries installed")
    parser.add_argument("--write", action="store_true", help="update benchmarks/README.md")
    args = parser.parse_args()
    ours = measure("ours", args.python, args.repeat, args.budget, args.timeout)
    theirs = measure("mlflow", args.python, args.repeat, args.budget, args.timeout)
    text = table(ours, theirs, args.repeat)
    print(text)
    if args.write:
        readme = README.read_text()
        block = f"<!-- search-limits:start -->\n{text}\n<!-- search-limits:end -->"
        readme = re.sub(r"<!-- search-limits:start -->.*?<!-- search-limits:end -->",
                        lambda _: block, readme, flags=re.S)
        README.write_text(readme)


if __name__ == "__main__":
    main()
