"""Tracking benchmarks: jupyter_mltrack against MLflow, side by side in one run.

Run in an environment that has both (MLflow is never a dependency of the project)::

    python -m venv /tmp/bench && /tmp/bench/bin/pip install mlflow -e .
    /tmp/bench/bin/python benchmarks/bench_tracking.py [--quick] [--write]

Every scenario runs in a fresh process on a fresh SQLite store, ``--repeat`` times;
the table reports medians and the ratio (how many times better ours is). ``--write``
replaces the table in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any

HERE = Path(__file__).resolve().parent
SCENARIOS = HERE / "tracking_scenarios.py"


@dataclass
class Scenario:
    label: str
    name: str
    ours_n: int
    mlflow_n: int
    key: str
    unit: str
    higher_is_better: bool
    target: str
    mlflow_name: str | None = None


def scenarios(quick: bool) -> list[Scenario]:
    q = 10 if quick else 1
    return [
        Scenario("`log_metric`, per call", "log_metric", 100_000 // q, 200 // q,
                 "seconds_per_call", "µs", False, "< 10 µs and ≥ 200× faster"),
        Scenario("`log_metric`, per call (MLflow `synchronous=False`)", "log_metric",
                 100_000 // q, 2000 // q, "seconds_per_call", "µs", False, "",
                 mlflow_name="log_metric_async"),
        Scenario("bulk ingestion through `log_batch` (points/s)", "log_batch", 1_000_000 // q,
                 20_000 // q, "points_per_second", "/s", True, "≥ 500,000 points/s"),
        Scenario("`log_metric` loop + `flush()` (points/s)", "log_metric_stream",
                 1_000_000 // q, 0, "points_per_second", "/s", True, ""),
        Scenario("empty `start_run`/`end_run` (runs/s)", "empty_runs", 1000 // q, 100 // q,
                 "runs_per_second", "/s", True, ""),
        Scenario("create runs with 5 params + 5 metrics (runs/s)", "create_runs",
                 10_000 // q, 200 // q, "runs_per_second", "/s", True, ""),
        Scenario("filtered search, 10,000 runs", "search", 10_000, 10_000, "seconds", "ms",
                 False, ""),
        Scenario("filtered search, 100,000 runs", "search", 100_000 // q, 100_000 // q,
                 "seconds", "ms", False, "< 100 ms"),
        Scenario("10,000 runs to a DataFrame", "load_frame", 10_000, 10_000, "seconds", "ms",
                 False, "< 0.5 s"),
        Scenario("metric history, 100,000 points", "history", 100_000, 100_000, "seconds",
                 "ms", False, ""),
        Scenario("metric history, 1,000,000 points", "history", 1_000_000 // q, 0, "seconds",
                 "ms", False, "< 1 s"),
        Scenario("8 processes logging to one SQLite file (points/s)", "concurrent",
                 20_000 // q, 100 // q, "points_per_second", "/s", True,
                 "0 errors, 0 lost"),
    ]


def run_scenario(lib: str, name: str, n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"bench-{lib}-") as workdir:
        proc = subprocess.run([sys.executable, str(SCENARIOS), lib, name, workdir, str(n)],
                              capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"{lib} {name} failed:\n{proc.stderr[-3000:]}")
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])  # type: ignore[no-any-return]


def import_time(module: str, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import {module}"], check=True)
        samples.append(time.perf_counter() - t)
    baseline = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        baseline.append(time.perf_counter() - t)
    return median(samples) - median(baseline)


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "µs":
        return f"{value * 1e6:,.2f} µs" if value < 1e-3 else f"{value * 1e3:,.2f} ms"
    if unit == "ms":
        return f"{value * 1e3:,.1f} ms" if value < 10 else f"{value:,.1f} s"
    return f"{value:,.0f}{unit}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10x smaller sizes (smoke run)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default=None, help="run scenarios whose name contains this")
    parser.add_argument("--write", action="store_true", help="update benchmarks/README.md")
    args = parser.parse_args()

    rows = []
    results: dict[str, Any] = {}
    for sc in scenarios(args.quick):
        if args.only and args.only not in sc.name:
            continue
        ours = [run_scenario("ours", sc.name, sc.ours_n) for _ in range(args.repeat)]
        theirs = []
        if sc.mlflow_n:
            theirs = [run_scenario("mlflow", sc.mlflow_name or sc.name, sc.mlflow_n)
                      for _ in range(args.repeat)]
        o = median(r[sc.key] for r in ours)
        m = median(r[sc.key] for r in theirs) if theirs else None
        ratio = None
        if m:
            ratio = o / m if sc.higher_is_better else m / o
        extra = ""
        if sc.name == "concurrent":
            extra = (f"ours: {max(r['errors'] for r in ours)} errors, "
                     f"{max(r['lost'] for r in ours)} lost; MLflow: "
                     f"{max(r['errors'] for r in theirs)} failed processes, "
                     f"{max(r['lost'] for r in theirs)} lost")
        if sc.name == "search":
            extra = f"{ours[0]['rows']} matching rows (MLflow {theirs[0]['rows']})"
        if sc.name == "history" and "seconds_list" in ours[0]:
            extra = f"as a list of Metric: {fmt(median(r['seconds_list'] for r in ours), 'ms')}"
        sizes = f"{sc.ours_n:,}" + (f" / {sc.mlflow_n:,}" if sc.mlflow_n else "")
        rows.append((sc.label, sizes, fmt(o, sc.unit), fmt(m, sc.unit),
                     f"{ratio:,.0f}×" if ratio and ratio >= 10 else
                     (f"{ratio:,.1f}×" if ratio else "—"), sc.target, extra))
        results[sc.label] = {"ours": ours, "mlflow": theirs}
        print(" | ".join(rows[-1]), flush=True)

    if not args.only or "import" in args.only:
        o = import_time("jupyter_mltrack", 7)
        m = import_time("mlflow", 7)
        rows.append(("`import`", "", fmt(o, "ms"), fmt(m, "ms"), f"{m / o:,.0f}×", "< 0.5 s",
                     "median of 7 fresh interpreters, minus bare start-up"))
        print(" | ".join(rows[-1]), flush=True)

    import mlflow

    import jupyter_mltrack

    header = (f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, Python "
              f"{platform.python_version()}, jupyter_mltrack {jupyter_mltrack.__version__} vs "
              f"MLflow {mlflow.__version__}, both on SQLite; medians of {args.repeat} fresh "
              "processes per scenario (sizes: ours / MLflow).")
    table = ["| scenario | size | jupyter_mltrack | MLflow | ratio | target | notes |",
             "|---|---|---|---|---|---|---|"]
    table += ["| " + " | ".join(r) + " |" for r in rows]
    text = header + "\n\n" + "\n".join(table) + "\n"
    print("\n" + text)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "tracking.json").write_text(json.dumps(results, indent=1))
    if args.write:
        readme = HERE / "README.md"
        start, end = "<!-- tracking:start -->", "<!-- tracking:end -->"
        content = readme.read_text()
        before, rest = content.split(start, 1)
        _, after = rest.split(end, 1)
        readme.write_text(before + start + "\n" + text + end + after)


if __name__ == "__main__":
    main()
