"""Model flavors: one plugin per framework, found through the ``jupyter_mltrack.flavors``
entry-point group.

A flavor is an object with these attributes (see :class:`Flavor`). A third-party package
adds one by declaring, in its ``pyproject.toml``::

    [project.entry-points."jupyter_mltrack.flavors"]
    catboost = "my_package.mltrack_flavor:flavor"

The built-in flavors register through the same group; when the package metadata is not
installed (running from a source tree), they are registered directly.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ...errors import InvalidModel, InvalidParameter, MLTrackError, UntrustedModel
from ..format import model_file

ENTRY_POINT_GROUP = "jupyter_mltrack.flavors"

#: The built-in flavors, as their entry points name them.
BUILTINS: dict[str, str] = {
    "sklearn": "jupyter_mltrack.models.flavors.sklearn:flavor",
    "xgboost": "jupyter_mltrack.models.flavors.xgboost:flavor",
    "lightgbm": "jupyter_mltrack.models.flavors.lightgbm:flavor",
    "pytorch": "jupyter_mltrack.models.flavors.pytorch:flavor",
    "keras": "jupyter_mltrack.models.flavors.keras:flavor",
    "python_function": "jupyter_mltrack.models.flavors.python:flavor",
}


@dataclass
class SaveContext:
    """What a flavor's ``save`` gets besides the model."""

    path: Path
    options: dict[str, Any] = field(default_factory=dict)
    code_dir: Path | None = None


class LoadContext:
    """What a flavor's ``load`` gets: the model folder, its flavor entry, trust.

    ``trusted`` says whether loading may run code from the model's files (pickle,
    foreign classes): the caller passed ``trust=True``, or the files are exactly what
    ``log_model`` wrote into the store. It may be given as a function, asked once on
    first use (checking the files reads them all). ``file(key)`` is the path a field of
    the flavor entry names, refused when it leads out of the model folder.
    """

    def __init__(self, path: Path, conf: dict[str, Any], trusted: bool | Callable[[], bool],
                 inside_store: bool = False):
        self.path = path
        self.conf = conf
        self.inside_store = inside_store
        self._trusted = trusted

    def __repr__(self) -> str:
        return f"LoadContext({str(self.path)!r}, {self.conf!r})"

    @property
    def trusted(self) -> bool:
        if not isinstance(self._trusted, bool):
            self._trusted = bool(self._trusted())
        return self._trusted

    def file(self, key: str, default: str | None = None, inside: str | None = None) -> Path:
        """The file the flavor entry's ``key`` names (``default`` when absent); with
        ``inside``, the file of that name in the folder ``key`` names."""
        name = self.conf.get(key, default)
        if inside is not None and isinstance(name, str):
            name = f"{name.rstrip('/')}/{inside}"
        return model_file(self.path, name, key)


@runtime_checkable
class Flavor(Protocol):
    """A framework's way to save, load and call a model."""

    #: Key of the flavor in the MLmodel ``flavors`` mapping.
    name: str
    #: Flavors with a higher priority are asked first whether they can save a model.
    priority: int

    def can_save(self, model: Any) -> bool:
        """Whether this flavor handles ``model``; must not import the framework."""

    def save(self, model: Any, ctx: SaveContext) -> dict[str, Any]:
        """Write the model into ``ctx.path``; return the flavor's MLmodel entry."""

    def load(self, ctx: LoadContext) -> Any:
        """Read the framework object back from ``ctx.path``."""

    def predict(self, native: Any, data: Any, params: dict[str, Any]) -> Any:
        """Call the framework object on prepared input."""

    def modules(self, model: Any, conf: dict[str, Any]) -> list[str]:
        """Top-level modules the saved model needs (for requirements.txt).

        A flavor may also define ``walks_model(conf) -> bool``: whether the classes and
        functions reachable from the model object add requirements (true when absent;
        false for self-contained native files); and ``python_function(conf) -> dict``: the
        ``python_function`` entry through which MLflow loads the model (its
        ``loader_module`` and what that reads); without it the entry names this package.
        """


@runtime_checkable
class PredictsArrays(Protocol):
    """A flavor that may be handed a table of float columns as a 2-D array (optional).

    The serving layer then never builds a DataFrame for such a model's numeric requests.
    """

    def takes_array(self, native: Any, names: list[str]) -> bool:
        """Whether ``native`` predicts from an array of the columns ``names`` (in that
        order) exactly as from the table of them."""

    def predict_array(self, native: Any, array: Any, params: dict[str, Any]) -> Any:
        """Call the framework object on such an array."""


_lock = threading.Lock()
_flavors: dict[str, Any] = {}
_loaded = False


def register_flavor(flavor: Any) -> None:
    """Add (or replace) a flavor; the entry-point group calls this for every plugin."""
    missing = [a for a in ("name", "priority", "can_save", "save", "load", "predict", "modules")
               if not hasattr(flavor, a)]
    if missing:
        raise InvalidParameter(
            f"{flavor!r} is not a model flavor: it lacks {', '.join(missing)}."
        )
    _flavors[flavor.name] = flavor


def _load_entry_points() -> None:
    global _loaded
    if _loaded:
        return
    with _lock:
        if _loaded:
            return
        from importlib.metadata import entry_points

        found: dict[str, Any] = {}
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            found.setdefault(ep.name, ep)
        for name, target in BUILTINS.items():
            found.setdefault(name, target)
        for name, ep in found.items():
            try:
                flavor = _resolve(ep) if isinstance(ep, str) else ep.load()
            except Exception as exc:  # noqa: BLE001 - one broken plugin must not stop others
                import warnings

                warnings.warn(f"Model flavor plugin {name!r} failed to load: {exc}",
                              stacklevel=3)
                continue
            if name not in _flavors:
                register_flavor(flavor)
        _loaded = True


def _resolve(target: str) -> Any:
    import importlib

    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def all_flavors() -> list[Any]:
    """Every registered flavor, the ones asked first first."""
    _load_entry_points()
    return sorted(_flavors.values(), key=lambda f: -f.priority)


def get_flavor(name: str) -> Any:
    _load_entry_points()
    try:
        return _flavors[name]
    except KeyError:
        raise InvalidModel(
            f"No model flavor {name!r} is installed (known: {', '.join(sorted(_flavors))}). "
            "Install the package that provides it."
        ) from None


def flavor_for(model: Any) -> Any:
    """The flavor that saves ``model``; raises naming the supported kinds if none does."""
    for flavor in all_flavors():
        try:
            if flavor.can_save(model):
                return flavor
        except MLTrackError:
            raise
        except Exception:  # noqa: BLE001,S112 - a plugin's check failing means "not mine"
            continue
    raise InvalidParameter(
        f"No model flavor can save a {type(model).__module__}.{type(model).__qualname__}. "
        "Supported: scikit-learn estimators and pipelines, XGBoost and LightGBM models, "
        "torch.nn.Module, Keras models, a PythonModel subclass or any callable."
    )


def class_path(obj_or_type: Any) -> str:
    """``module:qualname`` of a class or of an object's class."""
    cls = obj_or_type if isinstance(obj_or_type, type) else type(obj_or_type)
    return f"{cls.__module__}:{cls.__qualname__}"


def dotted_class_path(obj_or_type: Any) -> str:
    """``module.qualname`` of a class or of an object's class, as MLflow writes it."""
    return class_path(obj_or_type).replace(":", ".", 1)


def _split_class_path(path: Any) -> tuple[str, str]:
    if not isinstance(path, str) or not path:
        raise InvalidModel(f"The MLmodel names class {path!r}, which is not module:name; the "
                           "file was edited or is not a valid model.")
    if ":" in path:
        module, _, qualname = path.partition(":")
    else:
        module, _, qualname = path.rpartition(".")
    return module, qualname


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def import_class(path: str, allowed_prefixes: tuple[str, ...] | None = None,
                 trusted: Callable[[], bool] | None = None,
                 own_packages: tuple[str, ...] = ()) -> Any:
    """The class named by ``module:qualname`` (or ``module.qualname``).

    ``allowed_prefixes``: packages the class must come from. ``trusted``: when given,
    importing a module that is not imported yet (running its code) is refused unless
    it belongs to ``own_packages`` or ``trusted()`` says the model's source is trusted.
    """
    import importlib

    module, qualname = _split_class_path(path)
    if allowed_prefixes is not None and not _within(module, allowed_prefixes):
        raise InvalidModel(
            f"The MLmodel names class {path!r}, which is not from "
            f"{' or '.join(allowed_prefixes)}; the file was edited or is not a valid model."
        )
    if trusted is not None and module not in sys.modules \
            and not _within(module, own_packages) and not trusted():
        raise UntrustedModel(
            f"The model names class {path!r}; importing module {module!r} runs its code, and "
            "the model does not come from a trusted source. If you trust it, pass "
            f"trust=True (or import {module} yourself before loading)."
        )
    try:
        obj: Any = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise InvalidModel(
            f"Cannot import {path!r} which the model needs: {exc}. Install the package that "
            "defines it, or log the model with code_paths=[...] holding its source."
        ) from exc
    return obj


def in_sys_modules(*names: str) -> bool:
    """Whether one of the frameworks is imported (a model of it can only exist then)."""
    return any(n in sys.modules for n in names)
