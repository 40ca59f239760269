"""Pinned requirements of a saved model: what the model needs, not the whole environment.

The modules come from the flavor (the framework and its file format) and from the
model object itself: the classes it holds and the modules its functions call. Each
top-level module is mapped to its installed distribution and pinned to that version.
Modules that are part of Python, defined in the notebook, or shipped with
``code_paths`` need no requirement.
"""

from __future__ import annotations

import functools
import sys
import types
from collections.abc import Iterable
from importlib import metadata
from typing import Any

#: Import names whose distribution is named differently (looked up without a scan).
KNOWN_DISTRIBUTIONS = {
    "sklearn": "scikit-learn",
    "yaml": "PyYAML",
    "PIL": "Pillow",
    "cv2": "opencv-python",
    "skimage": "scikit-image",
    "google.protobuf": "protobuf",
    "dateutil": "python-dateutil",
    "bs4": "beautifulsoup4",
}

_MAX_OBJECTS = 20_000


def model_modules(model: Any) -> set[str]:
    """Top-level modules of the classes and functions reachable from ``model``."""
    found: set[str] = set()
    seen: set[int] = set()
    stack: list[Any] = [model]
    count = 0
    while stack and count < _MAX_OBJECTS:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        count += 1
        if isinstance(obj, types.ModuleType):
            found.add(obj.__name__.split(".")[0])
            continue
        if isinstance(obj, (str, bytes, int, float, bool, type(None), complex)):
            continue
        if isinstance(obj, (types.FunctionType, types.MethodType)):
            stack.extend(_function_refs(obj))
            continue
        if isinstance(obj, type):
            found.add(obj.__module__.split(".")[0])
            if obj.__module__ == "__main__":
                stack.extend(v for v in vars(obj).values())
            continue
        cls = type(obj)
        found.add(cls.__module__.split(".")[0])
        if cls.__module__ == "__main__":
            stack.append(cls)
        if isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend(list(obj)[:10_000])
        elif cls.__module__.split(".")[0] == "numpy":
            if getattr(obj, "dtype", None) is not None and obj.dtype == object:
                stack.extend(obj.ravel()[:100].tolist())
        else:
            state = getattr(obj, "__dict__", None)
            if isinstance(state, dict):
                stack.extend(state.values())
    return found


def _function_refs(func: Any) -> list[Any]:
    """Globals a function (and the code nested in it) refers to, plus its closure."""
    if isinstance(func, types.MethodType):
        return [func.__func__, func.__self__]
    refs: list[Any] = [sys.modules[func.__module__]] if func.__module__ in sys.modules \
        and func.__module__ != "__main__" else []
    codes = [func.__code__]
    names: set[str] = set()
    while codes:
        code = codes.pop()
        names.update(code.co_names)
        codes.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    if func.__module__ == "__main__" or func.__module__ is None:
        g = func.__globals__
        refs.extend(g[n] for n in names if n in g)
    for cell in func.__closure__ or ():
        try:
            refs.append(cell.cell_contents)
        except ValueError:
            continue
    refs.extend(func.__defaults__ or ())
    return refs


def _skip(module: str, local: set[str]) -> bool:
    return (not module or module in ("__main__", "builtins", "__mp_main__")
            or module in sys.stdlib_module_names or module in local
            or module.startswith("_"))


@functools.cache
def _scan() -> dict[str, list[str]]:
    return dict(metadata.packages_distributions())


def distribution_of(module: str) -> str | None:
    """The installed distribution that provides the top-level ``module``, if any."""
    name = KNOWN_DISTRIBUTIONS.get(module, module)
    try:
        return str(metadata.distribution(name).metadata["Name"])
    except metadata.PackageNotFoundError:
        pass
    dists = _scan().get(module)
    if not dists:
        return None
    try:  # the scan may give a folder spelling (tensorflow_cpu); prefer the declared name
        return str(metadata.distribution(dists[0]).metadata["Name"])
    except metadata.PackageNotFoundError:
        return dists[0]


def pinned(modules: Iterable[str], local: Iterable[str] = (),
           with_project: bool = True) -> tuple[list[str], list[str]]:
    """``name==version`` lines for the modules, and the modules no distribution provides.

    ``with_project`` pins this package too (models only its loader reads); without it this
    package is named only when one of ``modules`` is its own."""
    skip = set(local)
    lines: dict[str, str] = {}
    unknown: list[str] = []
    project = distribution_of("jupyter_mltrack")
    if project and with_project:
        lines[project.lower()] = f"{project}=={metadata.version(project)}"
    for module in sorted(set(modules)):
        if _skip(module, skip):
            continue
        dist = distribution_of(module)
        if dist is None:
            if module in sys.modules:
                unknown.append(module)
            continue
        key = dist.lower().replace("_", "-")
        if key not in lines:
            lines[key] = f"{dist}=={_version(dist)}"
    return sorted(lines.values(), key=str.lower), unknown


def _version(dist: str) -> str:
    version = metadata.version(dist)
    # local build tags (torch 2.13.0+cpu) name a wheel index, not a release
    return version.split("+")[0]


def normalise(requirements: Iterable[str] | str) -> list[str]:
    """A user's requirements: a list of lines, or the path of a requirements file."""
    from pathlib import Path

    from ..errors import InvalidParameter

    if isinstance(requirements, str):
        path = Path(requirements)
        if not path.is_file():
            raise InvalidParameter(
                f"requirements={requirements!r} is not a file; pass a list of requirement "
                "lines (['scikit-learn==1.5.0']) or the path of a requirements.txt."
            )
        lines = path.read_text(encoding="utf-8").splitlines()
    else:
        lines = list(requirements)
    out = []
    for line in lines:
        if not isinstance(line, str):
            raise InvalidParameter(f"Requirement {line!r} is not text.")
        text = line.strip()
        if text and not text.startswith("#"):
            out.append(text)
    return out
