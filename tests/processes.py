"""Real processes in tests: release several at the same moment, and wait for what they do."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def wait_for(condition: Callable[[], Any], timeout: float = 5.0, what: str = "") -> Any:
    """Poll until condition() is truthy; generous, so a busy machine does not fail it."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def run_together(script: str, arg_lists: Sequence[Sequence[str]], folder: Path,
                 timeout: float = 240) -> list[tuple[str, str]]:
    """Run ``script`` once per argument list, all released at once.

    Each process gets its arguments and then the path of a "go" file as its last
    argument; it prints ``ready``, waits for that file, then does its work. Returns
    (stdout, stderr) per process, after asserting that every one exited with 0.
    """
    path = folder / "together.py"
    path.write_text(script)
    go = folder / "go"
    procs = [subprocess.Popen([sys.executable, str(path), *args, str(go)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for args in arg_lists]
    try:
        for proc in procs:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
        go.touch()
        results = [proc.communicate(timeout=timeout) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    for proc, (_, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
    return results
