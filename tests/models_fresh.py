"""Load a model and predict in a fresh Python process, as another notebook or a server would."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

_SCRIPT = """
import pickle, sys
import numpy as np
import jupyter_mltrack as mltrack

data_file, uri, tracking_uri, trust, out_file = sys.argv[1:6]
with open(data_file, "rb") as handle:
    data = pickle.load(handle)
client = mltrack.Client(tracking_uri) if tracking_uri else None
model = mltrack.load_model(uri, trust=trust == "1", client=client)
result = model.predict(data)
with open(out_file, "wb") as handle:
    pickle.dump({"prediction": result, "flavor": model.flavor,
                 "native": type(model.native).__module__ + "." + type(model.native).__name__},
                handle)
"""


def predict_fresh(tmp: Path, uri: str, data: Any, tracking_uri: str = "", trust: bool = False,
                  env: dict[str, str] | None = None, cwd: Path | None = None,
                  unset: tuple[str, ...] = ()) -> dict[str, Any]:
    """Run load_model(uri).predict(data) in a new interpreter; return its result."""
    tmp.mkdir(parents=True, exist_ok=True)
    data_file = tmp / "fresh_input.pkl"
    out_file = tmp / "fresh_output.pkl"
    out_file.unlink(missing_ok=True)
    data_file.write_bytes(pickle.dumps(data))
    full_env = {**os.environ, **(env or {})}
    for name in ("MLTRACK_TRACKING_URI", *unset):
        full_env.pop(name, None)
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(data_file), uri, tracking_uri,
         "1" if trust else "0", str(out_file)],
        capture_output=True, text=True, env=full_env, cwd=str(cwd or tmp), timeout=300,
    )
    if proc.returncode != 0:
        raise AssertionError(f"fresh process failed:\n{proc.stderr[-4000:]}")
    with open(out_file, "rb") as handle:
        return pickle.load(handle)  # noqa: S301 - written by the test's own child process
