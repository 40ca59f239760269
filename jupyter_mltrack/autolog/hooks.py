"""Calling a function when a module is imported (now, if it is imported already).

``mltrack.autolog()`` must not import torch or Keras to patch them: each flavor is
enabled the moment its library is first imported, as MLflow's ``autolog()`` does.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

_lock = threading.RLock()
_waiting: dict[str, list[Callable[[ModuleType], None]]] = {}
#: Prefix ("sklearn.") -> called for every module of that name imported from now on.
_every: dict[str, Callable[[ModuleType], None]] = {}


class _Finder(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps the loader of a watched module to call back after it."""

    def __init__(self) -> None:
        self._busy: set[str] = set()

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname in self._busy or (fullname not in _waiting and not _watched(fullname)):
            return None
        self._busy.add(fullname)
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._busy.discard(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader = spec.loader
        original_exec = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            original_exec(module)
            _fire(fullname, module)

        spec.loader = _Loader(loader, exec_module)
        return spec


class _Loader(importlib.abc.Loader):
    def __init__(self, loader: Any, exec_module: Callable[[ModuleType], None]):
        self._loader = loader
        self._exec = exec_module

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        created: ModuleType | None = self._loader.create_module(spec)
        return created

    def exec_module(self, module: ModuleType) -> None:
        # the module keeps its own loader (resources, reloads)
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        module.__loader__ = self._loader
        self._exec(module)


_finder = _Finder()


def _watched(name: str) -> bool:
    return any(name.startswith(prefix) for prefix in _every)


def _fire(name: str, module: ModuleType) -> None:
    with _lock:
        callbacks = _waiting.pop(name, [])
        callbacks += [c for prefix, c in _every.items() if name.startswith(prefix)]
        _unhook_when_idle()
    for callback in callbacks:
        try:
            callback(module)
        except Exception as exc:  # noqa: BLE001 - never break the user's import
            import warnings

            warnings.warn(f"jupyter_mltrack autolog could not patch {name} as it was "
                          f"imported: {type(exc).__name__}: {exc}", RuntimeWarning,
                          stacklevel=2)


def when_imported(name: str, callback: Callable[[ModuleType], None]) -> None:
    """Call ``callback(module)`` now if ``name`` is imported, else right after its import."""
    module = sys.modules.get(name)
    if module is not None:
        callback(module)
        return
    with _lock:
        _waiting.setdefault(name, []).append(callback)
        if _finder not in sys.meta_path:
            sys.meta_path.insert(0, _finder)


def forget(name: str) -> None:
    """Drop the callbacks still waiting for ``name``."""
    with _lock:
        _waiting.pop(name, None)
        _unhook_when_idle()


def every_module(prefix: str, callback: Callable[[ModuleType], None]) -> None:
    """Call ``callback(module)`` for each module named ``prefix...`` imported already, and
    for each one imported later, until :func:`forget_modules`."""
    with _lock:
        _every[prefix] = callback
        if _finder not in sys.meta_path:
            sys.meta_path.insert(0, _finder)
    for name, module in list(sys.modules.items()):
        if name.startswith(prefix) and module is not None:
            callback(module)


def forget_modules(prefix: str) -> None:
    with _lock:
        _every.pop(prefix, None)
        _unhook_when_idle()


def _unhook_when_idle() -> None:
    if not _waiting and not _every and _finder in sys.meta_path:
        sys.meta_path.remove(_finder)


def waiting() -> set[str]:
    return set(_waiting)
