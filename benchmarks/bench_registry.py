"""Registry benchmarks: jupyter_mltrack against MLflow side by side in one run.

Run in an environment that has both (MLflow is never a dependency of the project)::

    python -m venv /tmp/bench && /tmp/bench/bin/pip install mlflow -e ".[models]"
    /tmp/bench/bin/python benchmarks/bench_registry.py [--versions 100] [--repeat 3] [--write]

Each library, in a fresh process on a fresh SQLite store, logs one small scikit-learn
model and then times, per operation: registering a new version of it; moving a version
to Production while archiving the previous holder; reading the Production version back
(the lookup behind ``models:/name/Production``). The table gives medians per operation
and the ratio (how many times faster ours is); ``--write`` writes
benchmarks/results/registry.md.
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

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "registry.md"

MODEL = """
import json, sys, time, warnings
from statistics import median
warnings.filterwarnings("ignore")
import numpy as np
from sklearn.linear_model import LogisticRegression
X = np.random.default_rng(0).normal(size=(100, 4)); y = (X[:, 0] > 0).astype(int)
model = LogisticRegression().fit(X, y)
N = int(sys.argv[2])

def timed(fn, n):
    samples = []
    for i in range(n):
        t = time.perf_counter(); fn(i); samples.append(time.perf_counter() - t)
    return median(samples)
"""

OURS = MODEL + """
import jupyter_mltrack as mltrack
mltrack.set_tracking_uri(sys.argv[1])
with mltrack.start_run():
    uri = mltrack.log_model(model, input_example=X[:2]).model_uri
out = {}
out["register"] = timed(lambda i: mltrack.register_model(uri, "bench"), N)
out["promote"] = timed(lambda i: mltrack.transition_stage("bench", i + 1, "Production",
                                                          archive_existing=True), N)
out["lookup"] = timed(lambda i: mltrack.get_latest_versions("bench", ["Production"]), N)
print("RESULT " + json.dumps(out))
"""

MLFLOW = MODEL + """
import logging
logging.getLogger("mlflow").setLevel(logging.ERROR)
import mlflow, mlflow.sklearn
from mlflow import MlflowClient
mlflow.set_tracking_uri(sys.argv[1])
with mlflow.start_run():
    uri = mlflow.sklearn.log_model(model, name="model").model_uri
client = MlflowClient()
out = {}
out["register"] = timed(lambda i: mlflow.register_model(uri, "bench"), N)
out["promote"] = timed(lambda i: client.transition_model_version_stage(
    "bench", str(i + 1), "Production", archive_existing_versions=True), N)
out["lookup"] = timed(lambda i: client.get_latest_versions("bench", ["Production"]), N)
print("RESULT " + json.dumps(out))
"""

LABELS = {
    "register": "register a new version",
    "promote": "move a version to Production, archiving the holder",
    "lookup": "find the Production version",
}


def run(script: str, uri: str, n: int) -> dict[str, float]:
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true",
               PYTHONWARNINGS="ignore")
    env.pop("MLTRACK_TRACKING_URI", None)
    env.pop("MLFLOW_TRACKING_URI", None)
    with tempfile.TemporaryDirectory(prefix="bench-registry-") as folder:
        proc = subprocess.run([sys.executable, "-c", script, uri.format(folder=folder),
                               str(n)], capture_output=True, text=True, cwd=folder, env=env,
                              timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--versions", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()

    ours: list[dict[str, float]] = []
    theirs: list[dict[str, float]] = []
    for _ in range(args.repeat):  # alternate, so both see the same machine load
        ours.append(run(OURS, "sqlite:///{folder}/mltrack.db", args.versions))
        theirs.append(run(MLFLOW, "sqlite:///{folder}/mlflow.db", args.versions))

    import mlflow

    import jupyter_mltrack

    lines = [
        "# Registry: jupyter_mltrack vs MLflow",
        "",
        f"Command: `python benchmarks/bench_registry.py --versions {args.versions} "
        f"--repeat {args.repeat} --write`. {args.versions} operations of each kind on one "
        "model, each library on a fresh SQLite store in a fresh process; medians per "
        f"operation over {args.repeat} processes, the two libraries alternating.",
        "",
        f"jupyter_mltrack {jupyter_mltrack.__version__} · MLflow {mlflow.__version__} · "
        f"Python {platform.python_version()} · {time.strftime('%Y-%m-%d')}",
        "",
        "| operation | jupyter_mltrack | MLflow | ratio |",
        "| --- | ---: | ---: | ---: |",
    ]
    for key, label in LABELS.items():
        o = median(r[key] for r in ours)
        m = median(r[key] for r in theirs)
        lines.append(f"| {label} | {o * 1e3:.1f} ms | {m * 1e3:.1f} ms | {m / o:.1f}× |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(text)


if __name__ == "__main__":
    main()

