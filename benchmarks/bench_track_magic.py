"""The cost of ``%%track``: a cell with the magic against the same cell without it.

Each scenario runs in a fresh process with its own IPython shell (history on, as in a
kernel), its own SQLite store, in a working directory that is a git repository (so
the git context is read as in a real project). The process alternates the plain cell
and the tracked cell, so both see the same load on a shared machine; the overhead is
the difference of their medians. The first cells are warm-up (store creation, the
installed-packages scan) and the first tracked cell is reported on its own.

When MLflow is importable, the same empty cell inside ``with mlflow.start_run():``
runs as the reference::

    /tmp/bench/bin/python benchmarks/bench_track_magic.py [--cells 300] [--write]

``--write`` stores benchmarks/results/track_magic.json and the table in
benchmarks/README.md.
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
from statistics import median, quantiles
from typing import Any

HERE = Path(__file__).resolve().parent
WARMUP = 20
TARGET_MS = 20.0

EMPTY = "pass"
TYPICAL = "lr = 0.01\nepochs = 10\nname = 'sgd'\nacc = lr * epochs"

# name: (label, setup lines, plain cell, tracked cell)
SCENARIOS: dict[str, tuple[str, list[str], str, str]] = {
    "empty": ("empty cell, `%%track`", ["%load_ext jupyter_mltrack"], EMPTY,
              f"%%track\n{EMPTY}"),
    "empty_quiet": ("empty cell, `%%track --quiet`", ["%load_ext jupyter_mltrack"], EMPTY,
                    f"%%track --quiet\n{EMPTY}"),
    "git_cold": ("empty cell, `%%track`, git status not cached (cells > 2 s apart)",
                 ["%load_ext jupyter_mltrack",
                  "import jupyter_mltrack.tracking.context as _ctx"], EMPTY,
                 f"%%track\n{EMPTY}"),
    "typical": ("3 params + 1 metric, `%%track`", ["%load_ext jupyter_mltrack"], TYPICAL,
                f"%%track\n{TYPICAL}"),
    "mlflow": ("empty cell in `with mlflow.start_run():` (MLflow)",
               ["import mlflow", "mlflow.set_tracking_uri(MLFLOW_URI)",
                "mlflow.set_experiment('bench')"], EMPTY,
               f"with mlflow.start_run():\n    {EMPTY}"),
}


def worker(name: str, cells: int, workdir: str) -> None:
    """Runs in a fresh process: alternate plain and tracked cells, print timings as JSON."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    _, setup, plain, tracked = SCENARIOS[name]
    os.chdir(workdir)
    config = Config()
    # History kept in memory: its disk writes (a background thread) are the same with
    # and without the magic, and on a shared disk they are only noise.
    config.HistoryManager.hist_file = ":memory:"
    shell = InteractiveShell.instance(config=config)
    shell.user_ns["MLFLOW_URI"] = f"sqlite:///{workdir}/mlflow.db"
    for line in setup:
        if not shell.run_cell(line, store_history=True).success:
            raise SystemExit(f"setup failed: {line}")
    times: dict[str, list[float]] = {"plain": [], "tracked": []}
    out = sys.stdout
    with open(os.devnull, "w") as devnull:
        sys.stdout = devnull  # summaries and prompts are not what is measured
        try:
            for _ in range(cells + WARMUP):
                for kind, cell in (("tracked", tracked), ("plain", plain)):
                    if name == "git_cold":
                        shell.user_ns["_ctx"]._git_cache = None
                    start = time.perf_counter_ns()
                    result = shell.run_cell(cell, store_history=True)
                    times[kind].append((time.perf_counter_ns() - start) / 1e6)
                    if not result.success:
                        raise SystemExit(f"{kind} cell failed in scenario {name}")
        finally:
            sys.stdout = out
    print(json.dumps({"first": times["tracked"][0],
                      "plain": times["plain"][WARMUP:], "tracked": times["tracked"][WARMUP:]}))


def _git_repo(path: Path) -> None:
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=path, check=True)
    for i in range(50):
        (path / f"file{i}.py").write_text(f"x = {i}\n")
    subprocess.run([*git, "add", "."], cwd=path, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "init"], cwd=path, check=True)


def run(name: str, cells: int) -> dict[str, Any] | None:
    if name == "mlflow":
        probe = subprocess.run([sys.executable, "-c", "import mlflow"], capture_output=True)
        if probe.returncode != 0:
            return None
    with tempfile.TemporaryDirectory(prefix=f"bench-track-{name}-") as workdir:
        _git_repo(Path(workdir))
        env = dict(os.environ)
        env["MLTRACK_TRACKING_URI"] = f"sqlite:///{workdir}/.mltrack/mltrack.db"
        env.pop("JPY_SESSION_NAME", None)
        proc = subprocess.run([sys.executable, __file__, "--worker", name, str(cells), workdir],
                              capture_output=True, text=True, env=env, timeout=1800)
    if proc.returncode != 0:
        raise SystemExit(f"scenario {name} failed:\n{proc.stderr[-3000:]}")
    raw = json.loads(proc.stdout.strip().splitlines()[-1])
    plain, tracked = raw["plain"], raw["tracked"]
    return {"plain_median": median(plain), "tracked_median": median(tracked),
            "tracked_p90": quantiles(tracked, n=10)[-1], "first": raw["first"],
            "overhead": median(tracked) - median(plain), "cells": len(tracked)}


def table(results: dict[str, dict[str, Any] | None], cells: int) -> str:
    rows = ["| scenario | plain cell (median) | tracked cell (median) | tracked p90 | "
            "first tracked cell | overhead (median) |",
            "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, (label, _, _, _) in SCENARIOS.items():
        r = results.get(name)
        if r is None:
            rows.append(f"| {label} | not installed | | | | |")
            continue
        rows.append(f"| {label} | {r['plain_median']:.2f} ms | {r['tracked_median']:.2f} ms | "
                    f"{r['tracked_p90']:.2f} ms | {r['first']:.0f} ms | "
                    f"**{r['overhead']:.2f} ms** |")
    lines = [*rows, ""]
    ours = (results.get("empty") or {}).get("overhead")
    theirs = (results.get("mlflow") or {}).get("overhead")
    if ours is not None:
        verdict = "meets" if ours < TARGET_MS else "misses"
        lines.append(f"`%%track` overhead on an empty cell: {ours:.2f} ms median "
                     f"({verdict} the < {TARGET_MS:.0f} ms target).")
    if ours and theirs:
        lines.append(f"MLflow's `with mlflow.start_run():` adds {theirs:.2f} ms, "
                     f"{theirs / ours:.1f}x the overhead of `%%track` (which also records "
                     "the cell, its params and metrics, and the notebook context).")
    lines.append(f"({platform.python_implementation()} {platform.python_version()}, "
                 f"{os.cpu_count()} CPUs, {cells} timed cells of each kind per scenario "
                 f"after {WARMUP} warm-up; a shared machine, so compare ratios.)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--cells", type=int, default=300)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--worker", nargs=3, metavar=("SCENARIO", "CELLS", "WORKDIR"))
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], int(args.worker[1]), args.worker[2])
        return
    results = {name: run(name, args.cells) for name in SCENARIOS}
    text = table(results, args.cells)
    print(text)
    if args.write:
        (HERE / "results").mkdir(exist_ok=True)
        (HERE / "results" / "track_magic.json").write_text(
            json.dumps({"cells": args.cells, "results": results}, indent=2) + "\n")
        readme = HERE / "README.md"
        content = readme.read_text()
        start, end = "<!-- track-magic:start -->", "<!-- track-magic:end -->"
        block = f"{start}\n{text}\n{end}"
        if start in content:
            content = content[:content.index(start)] + block + \
                content[content.index(end) + len(end):]
        else:
            content = content.rstrip("\n") + "\n\n## `%%track` overhead\n\n" + \
                "`bench_track_magic.py`: the same cell with and without the magic, " \
                "alternated in one\nIPython shell with history, on SQLite, in a git " \
                "repository.\n\n" + block + "\n"
        readme.write_text(content)


if __name__ == "__main__":
    main()
