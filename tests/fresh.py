"""Run a snippet in a new interpreter, for what a fresh process loads."""

from __future__ import annotations

import subprocess
import sys


def fresh_stdout(code: str) -> str:
    """The standard output of ``python -c code`` (stripped); a failure raises with its
    standard error."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()
