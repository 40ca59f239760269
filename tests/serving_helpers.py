"""Helpers for the serving tests: small real models, an in-process ASGI client, free ports."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

COLUMNS = ["a", "b", "c"]


def training_frame(seed: int = 0, rows: int = 60) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, 3)), columns=COLUMNS)
    frame["n"] = rng.integers(0, 5, size=rows)
    return frame, (frame["a"] + frame["n"] > 2).astype(int).to_numpy()


def fit_model(C: float = 1.0, seed: int = 0) -> Any:
    from sklearn.linear_model import LogisticRegression

    frame, y = training_frame(seed)
    return LogisticRegression(C=C).fit(frame, y)


def save_sklearn(path: Path, C: float = 1.0) -> Any:
    """A LogisticRegression on columns a, b, c (double) and n (long), saved at ``path``."""
    from jupyter_mltrack.models import save_model

    frame, _ = training_frame()
    model = fit_model(C)
    save_model(model, path, input_example=frame[:3], progress=False)
    return model


def asgi(app: Any, method: str, path: str, **kwargs: Any) -> Any:
    """One request to an ASGI app, in process (httpx's ASGITransport)."""
    import httpx

    async def go() -> Any:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(go())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[Any] | None = None, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}: "
                                 f"{proc.stderr.read() if proc.stderr else ''}")
        try:
            with urllib.request.urlopen(url + "/ping", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"{url} did not answer /ping within {timeout} s")


def post(url: str, body: bytes, content_type: str = "application/json",
         timeout: float = 30) -> tuple[int, dict[str, str], Any]:
    request = urllib.request.Request(url + "/invocations", data=body,  # noqa: S310
                                     headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read())


def get_json(url: str, path: str) -> Any:
    with urllib.request.urlopen(url + path, timeout=10) as response:  # noqa: S310
        return json.loads(response.read())


def start_cli(args: list[str], cwd: Path | None = None, env: dict[str, str] | None = None
              ) -> subprocess.Popen[str]:
    """``mltrack <args>`` as a real process of this interpreter."""
    code = "import sys; from jupyter_mltrack.cli import main; sys.exit(main())"
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    proc.terminate()
    try:
        return proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()
