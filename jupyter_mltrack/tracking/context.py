"""Run context: who started a run, where, from which code.

Context comes from providers, plain functions returning tags. The built-in
ones (user, host, Python, script, git) are registered here; others are plugins in
the entry-point group ``jupyter_mltrack.context_providers`` (the notebook face's
provider is one), loaded when the first run starts. Every provider is called when
a run starts; one that fails is skipped, never fatal.
"""

from __future__ import annotations

import getpass
import importlib
import os
import platform
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

USER = "mltrack.user"
HOST = "mltrack.host"
PYTHON = "mltrack.python_version"
SOURCE_TYPE = "mltrack.source.type"
SOURCE_NAME = "mltrack.source.name"
GIT_COMMIT = "mltrack.source.git.commit"
GIT_BRANCH = "mltrack.source.git.branch"
GIT_DIRTY = "mltrack.source.git.dirty"
GIT_REPO = "mltrack.source.git.repo"
PARENT_RUN = "mltrack.parentRunId"
NOTE = "mltrack.note.content"

# MLflow's names for the same facts, written beside ours so that MLflow filters
# (tags.`mlflow.user` = 'ana') and MLflow tools read our runs.
MLFLOW_RUN_NAME = "mlflow.runName"
MLFLOW_USER = "mlflow.user"
MLFLOW_SOURCE_NAME = "mlflow.source.name"
MLFLOW_SOURCE_TYPE = "mlflow.source.type"
MLFLOW_PARENT_RUN = "mlflow.parentRunId"
MLFLOW_GIT_COMMIT = "mlflow.source.git.commit"
MLFLOW_GIT_BRANCH = "mlflow.source.git.branch"
MLFLOW_NOTE = "mlflow.note.content"
_MIRRORED = {SOURCE_NAME: MLFLOW_SOURCE_NAME, GIT_COMMIT: MLFLOW_GIT_COMMIT,
             GIT_BRANCH: MLFLOW_GIT_BRANCH, PARENT_RUN: MLFLOW_PARENT_RUN, NOTE: MLFLOW_NOTE}
# Our source types in MLflow's vocabulary (NOTEBOOK, JOB, PROJECT, LOCAL, UNKNOWN).
_MLFLOW_SOURCE_TYPES = {"NOTEBOOK": "NOTEBOOK", "PROJECT": "PROJECT", "LOCAL": "LOCAL",
                        "IPYTHON": "LOCAL", "NOTEBOOK_JOB": "JOB", "JOB": "JOB"}

ContextProvider = Callable[[], dict[str, str]]
_providers: dict[str, ContextProvider] = {}

#: Plugins: ``name = "module:function"`` in this entry-point group provide run tags.
ENTRY_POINT_GROUP = "jupyter_mltrack.context_providers"
#: The package's own plugins, also found when its entry points are not installed
#: (a source checkout on ``sys.path``); an installed entry point of the same name wins.
BUILTIN_PLUGINS = {"notebook": "jupyter_mltrack.notebook.provenance:notebook_context"}
_plugins_loaded = False
_plugins_lock = threading.Lock()


def _load_plugins() -> None:
    """Register the providers of the entry-point group once per process."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    with _plugins_lock:
        if _plugins_loaded:
            return
        from importlib.metadata import entry_points

        targets = dict(BUILTIN_PLUGINS)
        targets.update({ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)})
        for name, target in targets.items():
            if name in _providers:
                continue
            module, _, attr = target.partition(":")
            try:
                _providers[name] = getattr(importlib.import_module(module), attr)
            except Exception as exc:  # noqa: BLE001 - a broken plugin must not stop runs
                print(f"jupyter_mltrack: context provider {name!r} ({target}) failed to load: "
                      f"{exc}", file=sys.stderr)
        _plugins_loaded = True


def register_context_provider(name: str, provider: ContextProvider) -> None:
    """Add (or replace) a provider of run tags; called at every run start."""
    _providers[name] = provider


def unregister_context_provider(name: str) -> None:
    _providers.pop(name, None)


def run_context() -> dict[str, str]:
    """Tags from every provider; later providers win on the same key."""
    _load_plugins()
    tags: dict[str, str] = {}
    for provider in list(_providers.values()):
        try:
            tags.update(provider())
        except Exception:  # noqa: BLE001,S112 - context is best effort by design
            continue
    return tags


#: The user a server request acts for (set by the team server per request).
_acting_user: ContextVar[str | None] = ContextVar("mltrack_acting_user", default=None)


@contextmanager
def acting_as(user: str) -> Iterator[None]:
    """Within the block, :func:`current_user` is ``user`` (the authenticated caller of a
    team server request, never a name the caller reported about itself)."""
    token = _acting_user.set(user)
    try:
        yield
    finally:
        _acting_user.reset(token)


def current_user() -> str:
    acting = _acting_user.get()
    if acting is not None:
        return acting
    for var in ("MLTRACK_USER", "JUPYTERHUB_USER"):
        if os.environ.get(var):
            return os.environ[var]
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user database in some containers
        return "unknown"


def _basic() -> dict[str, str]:
    return {
        USER: current_user(),
        HOST: socket.gethostname(),
        PYTHON: platform.python_version(),
    }


def _script() -> dict[str, str]:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if path and "ipykernel" not in path:
        return {SOURCE_TYPE: "LOCAL", SOURCE_NAME: str(Path(path).resolve())}
    return {}


def _git_dir(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        candidate = folder / ".git"
        if candidate.is_dir():
            return candidate
        if candidate.is_file():  # worktrees and submodules: "gitdir: <path>"
            text = candidate.read_text().strip()
            if text.startswith("gitdir:"):
                return (folder / text[len("gitdir:"):].strip()).resolve()
    return None


_git_cache: tuple[float, str, dict[str, str]] | None = None
_GIT_CACHE_SECONDS = 2.0


def git_context(start: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """Commit, branch and dirty flag of the repository around ``start`` (cwd by default).

    Commit and branch are read from files; the dirty flag asks ``git status``,
    cached for two seconds so that starting many runs stays fast.
    """
    global _git_cache
    here = str(Path(start or os.getcwd()).resolve())
    if _git_cache and _git_cache[1] == here and time.monotonic() - _git_cache[0] < \
            _GIT_CACHE_SECONDS:
        return dict(_git_cache[2])
    git_dir = _git_dir(Path(here))
    if git_dir is None:
        return {}
    tags: dict[str, str] = {GIT_REPO: str(git_dir.parent)}
    head = (git_dir / "HEAD").read_text().strip()
    commit = None
    if head.startswith("ref:"):
        ref = head[4:].strip()
        tags[GIT_BRANCH] = ref.removeprefix("refs/heads/")
        common = git_dir
        if (git_dir / "commondir").is_file():
            common = (git_dir / (git_dir / "commondir").read_text().strip()).resolve()
        for base in (git_dir, common):
            ref_file = base / ref
            if ref_file.is_file():
                commit = ref_file.read_text().strip()
                break
        else:
            packed = common / "packed-refs"
            if packed.is_file():
                for line in packed.read_text().splitlines():
                    if line.endswith(" " + ref):
                        commit = line.split(" ", 1)[0]
    else:
        commit = head
    if commit:
        tags[GIT_COMMIT] = commit
        try:
            out = subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=here, capture_output=True, text=True, timeout=5, check=True,
            ).stdout
            tags[GIT_DIRTY] = "true" if out.strip() else "false"
        except (OSError, subprocess.SubprocessError):
            pass
    _git_cache = (time.monotonic(), here, tags)
    return dict(tags)


register_context_provider("basic", _basic)
register_context_provider("script", _script)
register_context_provider("git", git_context)


def mlflow_system_tags(tags: dict[str, str], user: str,
                       parent_run_id: str | None = None) -> dict[str, str]:
    """MLflow's system tags (``mlflow.user``, ``mlflow.source.*``, ``mlflow.parentRunId``)
    for a new run with ``tags``; a key ``tags`` holds already is left out."""
    out: dict[str, str] = {MLFLOW_USER: user}
    for ours, theirs in _MIRRORED.items():
        if ours in tags:
            out[theirs] = tags[ours]
    if SOURCE_TYPE in tags:
        out[MLFLOW_SOURCE_TYPE] = _MLFLOW_SOURCE_TYPES.get(tags[SOURCE_TYPE].upper(), "UNKNOWN")
    if parent_run_id:
        out[MLFLOW_PARENT_RUN] = parent_run_id
    return {k: v for k, v in out.items() if k not in tags}
