"""The environment a run ran in: Python, platform and every installed distribution.

Each run started through the fluent API (``start_run()``, ``%%track``) stores it as the
artifact ``mltrack/environment.json``; :func:`diff_environments` tells two apart
(``mltrack env diff RUN_A RUN_B``). The package scan is cached while no folder on
``sys.path`` changes (a ``pip install`` in the kernel shows up at the next run).
``MLTRACK_LOG_ENVIRONMENT=false`` turns the artifact off.
"""

from __future__ import annotations

import atexit
import json
import os
import platform
import sys
import threading
import warnings
from dataclasses import dataclass, field
from typing import Any

ARTIFACT = "mltrack/environment.json"
DISABLE_ENV = "MLTRACK_LOG_ENVIRONMENT"

_lock = threading.Lock()
_cache: tuple[tuple[Any, ...], dict[str, str]] | None = None
_pending: dict[str, threading.Thread] = {}


def _path_key() -> tuple[Any, ...]:
    """What changes when a distribution is installed or removed: sys.path and its mtimes."""
    key: list[Any] = []
    for entry in sys.path:
        try:
            key.append((entry, os.stat(entry or ".").st_mtime_ns))
        except OSError:
            key.append((entry, None))
    return tuple(key)


def installed_packages() -> dict[str, str]:
    """``{distribution: version}`` of every distribution importable here, by name."""
    global _cache
    import importlib.metadata as metadata

    key = _path_key()
    with _lock:
        if _cache is not None and _cache[0] == key:
            return dict(_cache[1])
        found: dict[str, str] = {}
        for dist in metadata.distributions():
            try:
                name = dist.metadata["Name"]
                version = dist.version
            except Exception:  # noqa: BLE001,S112 - a broken install has no metadata
                continue
            if name and version and canonical(name) not in {canonical(n) for n in found}:
                found[str(name)] = str(version)
        packages = dict(sorted(found.items(), key=lambda kv: canonical(kv[0])))
        _cache = (key, packages)
        return dict(packages)


def canonical(name: str) -> str:
    """A distribution name as pip compares them (``Scikit_Learn`` -> ``scikit-learn``)."""
    import re

    return re.sub(r"[-_.]+", "-", name).lower()


def capture() -> dict[str, Any]:
    """The environment of this process, as stored in ``mltrack/environment.json``."""
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "executable": sys.executable,
        "packages": installed_packages(),
    }


def enabled() -> bool:
    return os.environ.get(DISABLE_ENV, "true").strip().lower() not in ("0", "false", "no", "off")


def log_environment(run: Any, background: bool = False) -> None:
    """Store this process's environment as ``mltrack/environment.json`` of ``run``.

    ``background=True`` writes it from a thread, so that starting a run does not wait
    for a file write; reading it back in this process (:func:`load_environment`) and
    interpreter exit wait for it. A failure to write it warns and leaves the run as it
    is: the run matters more than this record.
    """
    if not enabled():
        return
    if not background:
        _write(run)
        return
    thread = threading.Thread(target=_write, args=(run,), name="mltrack-environment",
                              daemon=True)
    with _lock:
        _pending[run.info.run_id] = thread
    thread.start()


def wait(run_id: str | None = None) -> None:
    """Wait until the environment of ``run_id`` (of every run: None) is stored."""
    with _lock:
        if run_id is None:
            threads = list(_pending.values())
            _pending.clear()
        else:
            found = _pending.pop(run_id, None)
            threads = [found] if found is not None else []
    for thread in threads:
        thread.join()


atexit.register(wait)


def _write(run: Any) -> None:
    from ..artifacts import artifact_repository

    try:
        data = json.dumps(capture(), indent=1).encode("utf-8")
        artifact_repository(run.info.artifact_uri).write_bytes(ARTIFACT, data)
    except Exception as exc:  # noqa: BLE001 - the run itself must go on
        warnings.warn(f"Could not store the environment of run {run.info.run_id}: {exc}",
                      RuntimeWarning, stacklevel=3)


def load_environment(client: Any, run_id: str) -> dict[str, Any] | None:
    """The stored environment of a run, or None when it has none."""
    from ..errors import NotFound

    wait(run_id)
    try:
        data = client.read_artifact(run_id, ARTIFACT)
    except (NotFound, FileNotFoundError, OSError):
        return None
    try:
        value = json.loads(data.decode("utf-8"))
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


@dataclass
class EnvironmentDiff:
    """Packages added, removed and changed from environment ``a`` to ``b``."""

    added: dict[str, str] = field(default_factory=dict)
    removed: dict[str, str] = field(default_factory=dict)
    changed: dict[str, tuple[str, str]] = field(default_factory=dict)
    python: tuple[str | None, str | None] | None = None
    missing: list[str] = field(default_factory=list)  # runs without a stored environment

    @property
    def same(self) -> bool:
        return not (self.added or self.removed or self.changed or self.python or self.missing)

    def lines(self) -> list[str]:
        """One line per difference, ``+ name==v``, ``- name==v``, ``~ name a -> b``."""
        out = [f"! run {r} has no stored environment" for r in self.missing]
        if self.python:
            out.append(f"~ python {self.python[0]} -> {self.python[1]}")
        out += [f"+ {k}=={v}" for k, v in self.added.items()]
        out += [f"- {k}=={v}" for k, v in self.removed.items()]
        out += [f"~ {k} {a} -> {b}" for k, (a, b) in self.changed.items()]
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines()) if not self.same else "same environment"


def diff_environments(a: dict[str, Any] | None, b: dict[str, Any] | None
                      ) -> EnvironmentDiff:
    """What differs between two stored environments (either may be None: not stored)."""
    diff = EnvironmentDiff()
    if a is None or b is None:
        return diff
    pa = {canonical(k): (k, str(v)) for k, v in (a.get("packages") or {}).items()}
    pb = {canonical(k): (k, str(v)) for k, v in (b.get("packages") or {}).items()}
    for key in sorted(set(pa) | set(pb)):
        if key not in pa:
            diff.added[pb[key][0]] = pb[key][1]
        elif key not in pb:
            diff.removed[pa[key][0]] = pa[key][1]
        elif pa[key][1] != pb[key][1]:
            diff.changed[pb[key][0]] = (pa[key][1], pb[key][1])
    if a.get("python") != b.get("python"):
        diff.python = (a.get("python"), b.get("python"))
    return diff


def diff_runs(client: Any, run_a: str, run_b: str) -> EnvironmentDiff:
    """The environment difference of two runs, from their stored artifacts."""
    a = load_environment(client, run_a)
    b = load_environment(client, run_b)
    diff = diff_environments(a, b)
    diff.missing = [r for r, env in ((run_a, a), (run_b, b)) if env is None]
    return diff
