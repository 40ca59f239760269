"""Where a run comes from: the notebook cell, the notebook file, the kernel, the packages.

:func:`notebook_context` is a context provider, registered as a plugin in the
``jupyter_mltrack.context_providers`` entry-point group (see ``tracking/context.py``)
and loaded when the first run starts, so every run gets these tags, whether
``%%track`` or the API started it:

==================================  ==================================================
``mltrack.source.type``             ``NOTEBOOK`` in a Jupyter kernel, ``IPYTHON`` in a
                                    terminal (a script keeps ``LOCAL`` and its path)
``mltrack.source.name``             the notebook path, when known
``mltrack.notebook.path``           the notebook path, when known
``mltrack.notebook.path_source``    how it was found: ``vscode``, ``jupyter-server``,
                                    ``JPY_SESSION_NAME``, ``MLTRACK_NOTEBOOK_PATH``, or
                                    the headless runner whose command line named it:
                                    ``jupyter-execute``, ``jupyter-nbconvert``,
                                    ``papermill``
``mltrack.notebook.cwd``            the working directory of the kernel (a headless
                                    runner starts it in the notebook's folder)
``mltrack.notebook.kernel_id``      the kernel id (from its connection file name)
``mltrack.notebook.execution_count`` the execution count of the running cell
``mltrack.notebook.cell_source``    the running cell as typed (trailing newlines
                                    dropped, as IPython's history keeps it)
``mltrack.notebook.cell_hash``      SHA-256 of that source
``mltrack.packages``                ``name==version`` lines of the distributions
                                    whose modules are imported in the process (a
                                    ``%%track`` run updates it when its cell ends)
==================================  ==================================================

Nothing here imports IPython or Jupyter at module import; the notebook path lookup is
cached and bounded by a short timeout.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..tracking import context
from ..tracking.staleness import cell_digest
from ..tracking.validation import MAX_TAG_VALUE

NOTEBOOK_PATH = "mltrack.notebook.path"
PATH_SOURCE = "mltrack.notebook.path_source"
WORKING_DIR = "mltrack.notebook.cwd"
KERNEL_ID = "mltrack.notebook.kernel_id"
EXECUTION_COUNT = "mltrack.notebook.execution_count"
CELL_SOURCE = "mltrack.notebook.cell_source"
CELL_HASH = "mltrack.notebook.cell_hash"
CELL_TRUNCATED = "mltrack.notebook.cell_source_truncated"
PACKAGES = "mltrack.packages"

PATH_ENV = "MLTRACK_NOTEBOOK_PATH"
SESSION_ENV = "JPY_SESSION_NAME"

#: Seconds a found notebook path is reused (a renamed notebook shows up after this).
PATH_TTL = 10.0
#: Seconds a failed sessions lookup is reused before asking the servers again.
MISS_TTL = 60.0
#: Timeout of one request to a Jupyter server's sessions API.
REQUEST_TIMEOUT = 1.0

_path_lock = threading.Lock()
_packages_lock = threading.Lock()
_hint: list[tuple[int | None, str]] = []


def shell() -> Any:
    """The running IPython shell, or None (without importing IPython)."""
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    return get() if get is not None else None


def in_kernel(ip: Any) -> bool:
    return ip is not None and getattr(ip, "kernel", None) is not None


def notebook_context() -> dict[str, str]:
    """Tags describing the cell, notebook and kernel a run starts from."""
    tags: dict[str, str] = {}
    packages = packages_text()
    if packages:
        tags[PACKAGES] = packages
    ip = shell()
    if ip is None:
        return tags
    tags[context.SOURCE_TYPE] = "NOTEBOOK" if in_kernel(ip) else "IPYTHON"
    tags[context.SOURCE_NAME] = "<ipython>"
    count, source = current_cell(ip)
    if count is not None:
        tags[EXECUTION_COUNT] = str(count)
    if source is not None:
        tags[CELL_HASH] = cell_digest(source)
        if len(source) > MAX_TAG_VALUE:
            tags[CELL_TRUNCATED] = "true"
            source = source[:MAX_TAG_VALUE]
        tags[CELL_SOURCE] = source
    kernel = kernel_id()
    if kernel:
        tags[KERNEL_ID] = kernel
    path, how = notebook_path(ip, kernel)
    if path:
        tags[NOTEBOOK_PATH] = tags[context.SOURCE_NAME] = path
        tags[PATH_SOURCE] = how or ""
    try:
        tags[WORKING_DIR] = os.getcwd()
    except OSError:  # the folder was removed
        pass
    return tags


def current_cell(ip: Any) -> tuple[int | None, str | None]:
    """Execution count and raw source of the cell running now."""
    history = getattr(ip, "history_manager", None)
    raw = getattr(history, "input_hist_raw", None)
    count = getattr(ip, "execution_count", None)
    # While a cell runs with history (as in every kernel), IPython has already advanced
    # the counter past it, and the cell is the last history entry, at index count - 1.
    if isinstance(count, int) and raw and len(raw) == count and count > 1:
        return count - 1, str(raw[-1])
    if _hint:
        return _hint[-1]
    return None, None


@contextmanager
def cell_hint(count: int | None, source: str) -> Iterator[None]:
    """Name the running cell for runs started inside, when IPython's history cannot."""
    _hint.append((count, source))
    try:
        yield
    finally:
        _hint.pop()


# -- kernel id ---------------------------------------------------------------------------

_kernel_id: list[str | None] = []


def kernel_id() -> str | None:
    """The id of the Jupyter kernel this process runs, from its connection file name."""
    if _kernel_id:
        return _kernel_id[0]
    found = None
    if "ipykernel" in sys.modules:
        try:
            from ipykernel.connect import get_connection_file

            found = kernel_id_from_connection_file(get_connection_file())
        except Exception:  # noqa: BLE001 - not in a running kernel app
            found = None
    _kernel_id.append(found)
    return found


def kernel_id_from_connection_file(path: str) -> str | None:
    """``kernel-<id>.json`` (as Jupyter servers name it) -> ``<id>``; else the file's stem.

    A kernel started without a server (nbclient, ``jupyter console``) has no id but its
    connection file, whose name then identifies it.
    """
    stem = Path(path).stem
    return stem.removeprefix("kernel-") or None


# -- notebook path -----------------------------------------------------------------------

_path_cache: dict[str, tuple[float, str | None]] = {}


def notebook_path(ip: Any, kernel: str | None) -> tuple[str | None, str | None]:
    """The notebook file of this kernel and how it was found.

    In order: VS Code's ``__vsc_ipynb_file__``; the sessions API of the running Jupyter
    servers, matched by kernel id (follows renames); the ``JPY_SESSION_NAME`` variable
    that jupyter_server sets when it starts a kernel; ``MLTRACK_NOTEBOOK_PATH``; the
    command line of a headless runner that launched the kernel (:func:`runner_notebook`).
    A kernel started by nbclient's Python API knows no path: pass
    ``MLTRACK_NOTEBOOK_PATH`` in the kernel's environment (``client.execute(env=...)``).
    """
    vscode = getattr(ip, "user_ns", {}).get("__vsc_ipynb_file__")
    if isinstance(vscode, str) and vscode:
        return vscode, "vscode"
    if kernel:
        path = _cached_session_path(kernel)
        if path:
            return path, "jupyter-server"
    session = os.environ.get(SESSION_ENV)
    if session:
        return session, SESSION_ENV
    env = os.environ.get(PATH_ENV)
    if env:
        return str(Path(env).expanduser().resolve()), PATH_ENV
    return runner_notebook()


# -- headless runners ----------------------------------------------------------------------

#: Commands that execute a notebook given on their command line: the name their path
#: source is recorded as, for ``jupyter-<x>``, ``jupyter <x>`` and ``python -m <x>``.
RUNNERS = {"execute": "jupyter-execute", "nbconvert": "jupyter-nbconvert",
           "nbclient": "jupyter-execute", "papermill": "papermill"}
_OPTIONS_WITH_VALUE = {"--output", "-o", "--output-dir", "--cwd", "--kernel", "-k",
                       "--parameters_file", "-f", "--parameters_yaml", "-y", "--kernel_name"}

_runner: list[tuple[str | None, str | None]] = []


def runner_notebook() -> tuple[str | None, str | None]:
    """The notebook a headless runner (``jupyter execute``, ``jupyter nbconvert
    --execute``, papermill) started this kernel for, read from the command line of the
    process that launched it (``JPY_PARENT_PID``, which jupyter_client sets)."""
    if _runner:
        return _runner[0]
    found: tuple[str | None, str | None] = (None, None)
    pid = os.environ.get("JPY_PARENT_PID", "")
    if pid.isdigit():
        try:
            argv, parent_cwd = _process_command(int(pid))
            found = notebook_from_command(argv, parent_cwd, os.getcwd())
        except Exception:  # noqa: BLE001 - the lookup is best effort
            found = (None, None)
    _runner.append(found)
    return found


def _process_command(pid: int) -> tuple[list[str], str]:
    """Arguments and working directory of a process (Linux /proc, else psutil)."""
    proc = Path(f"/proc/{pid}")
    if proc.is_dir():
        raw = (proc / "cmdline").read_bytes()
        return [a.decode("utf-8", "surrogateescape") for a in raw.split(b"\0") if a], \
            os.readlink(proc / "cwd")
    import psutil

    process = psutil.Process(pid)
    return list(process.cmdline()), str(process.cwd())


def notebook_from_command(argv: list[str], parent_cwd: str, kernel_cwd: str
                          ) -> tuple[str | None, str | None]:
    """The notebook a runner's command line executes, and the runner's name.

    papermill's input is its first notebook argument. ``jupyter execute`` and
    ``nbconvert`` start each notebook's kernel in the notebook's folder, so theirs is the
    one notebook argument in ``kernel_cwd``; with several there, none is chosen.
    """
    runner = None
    rest: list[str] = []
    for i, arg in enumerate(argv):
        base = os.path.basename(arg).removesuffix(".exe").removesuffix("-script.py")
        sub = base.removeprefix("jupyter-") if base.startswith("jupyter-") else \
            (base if base == "papermill" else None)
        if sub is None and i + 1 < len(argv) and (base == "jupyter" or arg == "-m"):
            sub = argv[i + 1]
            i += 1
        if sub in RUNNERS:
            runner, rest = RUNNERS[sub], argv[i + 1:]
            break
    if runner is None:
        return None, None
    notebooks = []
    skip = False
    for arg in rest:
        if skip:
            skip = False
            continue
        if arg.startswith("-"):
            skip = arg in _OPTIONS_WITH_VALUE
            continue
        if arg.endswith(".ipynb"):
            notebooks.append(arg)
    if runner == "papermill":
        if not notebooks:
            return None, None
        first = notebooks[0]
        if "://" in first:
            return first, runner
        return str(Path(parent_cwd, first).expanduser().resolve()), runner
    here = Path(kernel_cwd).resolve()
    paths = [Path(parent_cwd, nb).expanduser().resolve() for nb in notebooks]
    mine = [p for p in paths if p.parent == here and p.is_file()]
    if len(mine) != 1:
        return None, None
    return str(mine[0]), runner


def _cached_session_path(kernel: str) -> str | None:
    with _path_lock:
        now = time.monotonic()
        hit = _path_cache.get(kernel)
        if hit is not None:
            ttl = PATH_TTL if hit[1] else MISS_TTL
            if now - hit[0] < ttl:
                return hit[1]
        try:
            path = find_session_path(kernel)
        except Exception:  # noqa: BLE001 - the lookup is best effort
            path = None
        _path_cache[kernel] = (time.monotonic(), path)
        return path


def running_servers(runtime_dir: str | None = None) -> Iterator[dict[str, Any]]:
    """Info of the Jupyter servers whose ``jpserver-*.json`` files are in the runtime dir."""
    if runtime_dir is None:
        from jupyter_core.paths import jupyter_runtime_dir

        runtime_dir = jupyter_runtime_dir()
    folder = Path(runtime_dir)
    if not folder.is_dir():
        return
    for file in sorted(folder.glob("jpserver-*.json")) + sorted(folder.glob("nbserver-*.json")):
        try:
            info = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(info, dict) and _alive(info.get("pid")):
            yield info


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def fetch_sessions(info: dict[str, Any], timeout: float = REQUEST_TIMEOUT) -> list[Any]:
    """GET ``api/sessions`` of one server (loopback, no proxy)."""
    import urllib.request

    url = str(info.get("url") or "").rstrip("/") + "/api/sessions"
    request = urllib.request.Request(url)  # noqa: S310 - a URL from a server info file
    token = info.get("token")
    if token:
        request.add_header("Authorization", f"token {token}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=timeout) as response:
        data = json.loads(response.read().decode("utf-8"))
    return data if isinstance(data, list) else []


def match_session(sessions: Iterable[Any], kernel: str, root_dir: str | None) -> str | None:
    """The notebook path of the session that runs ``kernel``, made absolute with root_dir."""
    for session in sessions:
        if not isinstance(session, dict):
            continue
        if (session.get("kernel") or {}).get("id") != kernel:
            continue
        path = session.get("path") or (session.get("notebook") or {}).get("path")
        if not path:
            return None
        if root_dir and not os.path.isabs(path):
            return str(Path(root_dir, path))
        return str(path)
    return None


def find_session_path(kernel: str, runtime_dir: str | None = None,
                      timeout: float = REQUEST_TIMEOUT) -> str | None:
    """Ask every running Jupyter server which notebook runs ``kernel``."""
    for info in running_servers(runtime_dir):
        try:
            sessions = fetch_sessions(info, timeout)
        except Exception:  # noqa: BLE001,S112 - another server may answer
            continue
        found = match_session(sessions, kernel, info.get("root_dir") or
                              info.get("notebook_dir"))
        if found:
            return found
    return None


# -- packages ----------------------------------------------------------------------------

_distributions: Mapping[str, list[str]] | None = None
_versions: dict[str, str | None] = {}
_packages: tuple[int, str] = (-1, "")


def imported_distributions() -> dict[str, str]:
    """``{distribution: version}`` of the installed packages imported in this process."""
    global _distributions
    import importlib.metadata as metadata

    with _packages_lock:
        if _distributions is None:
            _distributions = metadata.packages_distributions()
        distributions = _distributions
        tops = {name.partition(".")[0] for name in list(sys.modules)}
        found: dict[str, str] = {}
        for top in tops:
            for dist in distributions.get(top, ()):
                if dist not in _versions:
                    try:
                        _versions[dist] = metadata.version(dist)
                    except Exception:  # noqa: BLE001 - a broken install has no version
                        _versions[dist] = None
                version = _versions[dist]
                if version:
                    found[dist] = version
    from .._version import __version__

    if not any(d.lower().replace("-", "_") == "jupyter_mltrack" for d in found):
        found["jupyter_mltrack"] = __version__
    return dict(sorted(found.items(), key=lambda kv: kv[0].lower()))


def packages_text() -> str:
    """``name==version`` lines (cached while no module is imported); fits a tag."""
    global _packages
    count = len(sys.modules)
    if _packages[0] == count:
        return _packages[1]
    lines = [f"{name}=={version}" for name, version in imported_distributions().items()]
    text = "\n".join(lines)
    if len(text) > MAX_TAG_VALUE:
        kept: list[str] = []
        size = 0
        for line in lines:
            if size + len(line) + 1 > MAX_TAG_VALUE - 40:
                break
            kept.append(line)
            size += len(line) + 1
        text = "\n".join(kept) + f"\n# ... and {len(lines) - len(kept)} more"
    _packages = (count, text)
    return text


def warm_up() -> None:
    """Fill the slow caches (installed distributions, notebook path) in the background."""

    def work() -> None:
        try:
            packages_text()
            ip = shell()
            if ip is not None:
                notebook_path(ip, kernel_id())
        except Exception:  # noqa: BLE001,S110 - warming is an optimisation only
            pass

    threading.Thread(target=work, name="mltrack-provenance-warm-up", daemon=True).start()

