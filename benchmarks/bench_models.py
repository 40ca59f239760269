"""Model benchmarks: ``log_model`` of a small scikit-learn model and loading it in a fresh
process, jupyter_mltrack against MLflow side by side in one run.

Run in an environment that has both (MLflow is never a dependency of the project)::

    python -m venv /tmp/bench && /tmp/bench/bin/pip install mlflow -e ".[models]"
    /tmp/bench/bin/python benchmarks/bench_models.py [--repeat 5] [--write]

Each repetition, alternating the two libraries, runs one worker process that trains the
model, starts a run on a fresh SQLite store and times ``log_model`` twice (the first call
pays the one-time imports of the process, as the first model logged in a notebook
does), then a fresh process that loads the model and predicts, timed from process start
to exit. The table gives medians and ratios (how many times faster ours is);
``--write`` writes it to benchmarks/results/models.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "models.md"

TRAIN = """
import numpy as np, pandas as pd
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

X, y = make_classification(n_samples=500, n_features=10, random_state=0)
X = pd.DataFrame(X, columns=[f"f{i}" for i in range(10)])
model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
"""

LOG_OURS = TRAIN + """
import time, json, sys
import jupyter_mltrack as mltrack
mltrack.set_tracking_uri(sys.argv[1])
with mltrack.start_run():
    t = time.perf_counter()
    info = mltrack.log_model(model, input_example=X[:5])
    first = time.perf_counter() - t
    t = time.perf_counter()
    mltrack.log_model(model, name="again", input_example=X[:5])
    again = time.perf_counter() - t
print(json.dumps({"first": first, "again": again, "uri": info.model_uri,
                  "expected": model.predict(X).tolist()}))
"""

LOG_MLFLOW = TRAIN + """
import time, json, sys
import mlflow, mlflow.sklearn
mlflow.set_tracking_uri(sys.argv[1])
with mlflow.start_run():
    t = time.perf_counter()
    info = mlflow.sklearn.log_model(model, name="model", input_example=X[:5])
    first = time.perf_counter() - t
    t = time.perf_counter()
    mlflow.sklearn.log_model(model, name="again", input_example=X[:5])
    again = time.perf_counter() - t
print(json.dumps({"first": first, "again": again, "uri": info.model_uri,
                  "expected": model.predict(X).tolist()}))
"""

LOAD_OURS = TRAIN.replace("model = make_pipeline", "_ = make_pipeline") + """
import json, sys
import jupyter_mltrack as mltrack
mltrack.set_tracking_uri(sys.argv[1])
print(json.dumps(mltrack.load_model(sys.argv[2]).predict(X).tolist()))
"""

LOAD_MLFLOW = TRAIN.replace("model = make_pipeline", "_ = make_pipeline") + """
import json, sys
import mlflow, mlflow.pyfunc
mlflow.set_tracking_uri(sys.argv[1])
print(json.dumps(mlflow.pyfunc.load_model(sys.argv[2]).predict(X).tolist()))
"""

# The load script's start-up (Python, scikit-learn, the data) costs the same for both;
# it is measured alone so the table can also show load + predict without it.
BASELINE = TRAIN + "\nimport json\nprint(json.dumps([]))\n"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true", PYTHONWARNINGS="ignore")
    env.pop("MLTRACK_TRACKING_URI", None)
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def _run(code: str, *args: str, cwd: Path) -> tuple[float, Any]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                          text=True, env=_env(), cwd=cwd, timeout=600)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return elapsed, json.loads(proc.stdout.strip().splitlines()[-1])


def one_round(tool: str, work: Path) -> dict[str, float]:
    work.mkdir(parents=True)
    uri = f"sqlite:///{work / 'store.db'}"
    log_code, load_code = (LOG_OURS, LOAD_OURS) if tool == "mltrack" else \
        (LOG_MLFLOW, LOAD_MLFLOW)
    _, logged = _run(log_code, uri, cwd=work)
    load_wall, predicted = _run(load_code, uri, logged["uri"], cwd=work)
    if predicted != logged["expected"]:
        raise AssertionError(f"{tool}: predictions after loading differ from the model's")
    return {"log_first": logged["first"], "log_again": logged["again"],
            "load_wall": load_wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="write results/models.md")
    args = parser.parse_args()
    try:
        import mlflow
    except ImportError:
        sys.exit("MLflow is not installed here; see the docstring for the benchmark set-up.")
    import sklearn

    import jupyter_mltrack

    results: dict[str, list[dict[str, float]]] = {"mltrack": [], "mlflow": []}
    baseline: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-models-") as tmp:
        for i in range(args.repeat):
            for tool in ("mltrack", "mlflow") if i % 2 == 0 else ("mlflow", "mltrack"):
                results[tool].append(one_round(tool, Path(tmp) / f"{tool}-{i}"))
                print(f"round {i + 1} {tool}: " + ", ".join(
                    f"{k} {v:.3f}s" for k, v in results[tool][-1].items()), flush=True)
            baseline.append(_run(BASELINE, cwd=Path(tmp))[0])
    base = median(baseline)
    rows = []
    for key, label in (("log_first", "`log_model`, first call in the process"),
                       ("log_again", "`log_model`, next calls"),
                       ("load_wall", "fresh process: start, import, load, predict"),
                       ("load_net", "the same, less the script's own start-up (below)")):
        pick = "load_wall" if key == "load_net" else key
        ours = median(r[pick] for r in results["mltrack"])
        theirs = median(r[pick] for r in results["mlflow"])
        if key == "load_net":
            ours, theirs = ours - base, theirs - base
        rows.append(f"| {label} | {ours:.3f} s | {theirs:.3f} s | {theirs / ours:.1f}× |")
    load1, load2 = os.getloadavg()[:2]
    table = "\n".join([
        "# Models: jupyter_mltrack vs MLflow",
        "",
        "Command (in an environment with both libraries, see benchmarks/README.md): "
        f"`python benchmarks/bench_models.py --repeat {args.repeat} --write`",
        "",
        "Model: `StandardScaler` + `LogisticRegression` pipeline, 10 features, logged with a "
        f"5-row input example; each store a fresh SQLite file. Medians of {args.repeat} "
        "rounds, the two libraries alternating. The load script's own start-up (Python, "
        f"importing scikit-learn and pandas, making the data) takes {base:.2f} s when run "
        "alone; the last row subtracts it.",
        "",
        f"jupyter_mltrack {jupyter_mltrack.__version__} · MLflow {mlflow.__version__} · "
        f"scikit-learn {sklearn.__version__} · Python {platform.python_version()} · "
        f"{os.cpu_count()} cores, load average {load1:.1f}/{load2:.1f} (shared machine)",
        "",
        "| step | jupyter_mltrack | MLflow | ratio |",
        "| --- | ---: | ---: | ---: |",
        *rows,
        "",
        "Raw rounds (seconds):",
        "",
        "```json",
        json.dumps({**results, "baseline_script": baseline}, indent=1),
        "```",
        "",
    ])
    print(table)
    if args.write:
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(table, encoding="utf-8")


if __name__ == "__main__":
    main()
