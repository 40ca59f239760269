"""The one way optional heavy dependencies are imported: lazily, naming the extra."""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingDependency


def import_optional(module: str, extra: str, package: str | None = None) -> ModuleType:
    """Import ``module`` or raise MissingDependency saying which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        name = package or module.split(".")[0]
        raise MissingDependency(
            f"{name} is needed for this; install it with "
            f"pip install 'jupyter_mltrack[{extra}]' (or pip install {name})."
        ) from exc
