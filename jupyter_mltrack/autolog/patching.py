"""Replacing a library's training functions, and putting them back.

Each flavor patches methods or module functions with :func:`patch`; :func:`unpatch`
restores exactly the objects that were there (a method the class only inherited is
removed again, so the parent's is found). A wrapper is marked, so patching twice wraps
the original once.

Training calls nest (a Pipeline fits its steps, a search fits a clone per candidate, a
joblib worker thread fits inside its parent's search): only the outermost autologged
call logs. That state is process-wide, as MLflow's is: while one autologged training
runs, every other patched call in the process runs unlogged.
"""

from __future__ import annotations

import functools
import inspect
import threading
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

_MARK = "__mltrack_autolog__"
_lock = threading.RLock()
_depth = 0
_warned: set[tuple[str, str]] = set()


@dataclass
class _Patch:
    owner: Any
    name: str
    own: bool  # whether ``owner`` had the attribute itself (else it was inherited)
    original: Any  # the attribute as found in ``owner.__dict__`` (when own)


_patches: dict[str, list[_Patch]] = {}


def original_of(function: Any) -> Any:
    """The unpatched function behind ``function`` (itself when it is not a wrapper)."""
    while getattr(function, _MARK, False):
        function = function.__wrapped__
    return function


def patch(flavor: str, owner: Any, name: str,
          make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> bool:
    """Replace ``owner.name`` (a plain function found on ``owner`` or its classes) by
    ``make(original)``. Descriptors other than plain functions are left alone.
    Returns whether something was patched."""
    if inspect.isclass(owner):
        found = _static(owner, name)
    else:
        found = owner.__dict__.get(name)
    if found is None or not inspect.isfunction(found):
        return False
    original = original_of(found)
    wrapper = functools.wraps(original)(make(original))
    setattr(wrapper, _MARK, True)
    with _lock:
        own = name in vars(owner)
        entry = _Patch(owner, name, own, vars(owner).get(name))
        if own and getattr(entry.original, _MARK, False):
            # patched already (by another flavor or an earlier call): keep the first record
            setattr(owner, name, wrapper)
            return True
        setattr(owner, name, wrapper)
        _patches.setdefault(flavor, []).append(entry)
    return True


def _static(cls: type, name: str) -> Any:
    for klass in cls.__mro__:
        if name in vars(klass):
            return vars(klass)[name]
    return None


def unpatch(flavor: str) -> None:
    """Put back everything ``flavor`` patched, newest first."""
    with _lock:
        entries = _patches.pop(flavor, [])
        for entry in reversed(entries):
            if entry.own:
                setattr(entry.owner, entry.name, entry.original)
            elif entry.name in vars(entry.owner):
                delattr(entry.owner, entry.name)


def patched(flavor: str) -> bool:
    return bool(_patches.get(flavor))


@contextmanager
def outermost() -> Any:
    """Yields True for the outermost autologged training call in the process."""
    global _depth
    with _lock:
        _depth += 1
        first = _depth == 1
    try:
        yield first
    finally:
        with _lock:
            _depth -= 1


def in_training() -> bool:
    return _depth > 0


def warn_once(flavor: str, what: str, exc: BaseException, silent: bool) -> None:
    """Say once per flavor and kind of failure that autologging could not do ``what``."""
    key = (flavor, what)
    if silent or key in _warned:
        return
    _warned.add(key)
    warnings.warn(
        f"jupyter_mltrack autolog ({flavor}) could not {what}: {type(exc).__name__}: {exc}. "
        "Training went on; this warning is shown once.", RuntimeWarning, stacklevel=3)


def safely(flavor: str, what: str, silent: bool, action: Callable[[], Any],
           default: Any = None) -> Any:
    """Run ``action``; on any exception warn once and return ``default``."""
    try:
        return action()
    except Exception as exc:  # noqa: BLE001 - logging never breaks the user's training
        warn_once(flavor, what, exc, silent)
        return default
