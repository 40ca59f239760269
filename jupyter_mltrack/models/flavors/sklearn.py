"""scikit-learn estimators and pipelines, saved with skops (no pickle) by default.

``serialization_format="cloudpickle"`` (or ``"pickle"``) is the explicit fallback for
objects skops cannot represent; such a model loads from outside the store only with
``trust=True``.

The layout is MLflow's for every format: ``pickled_model`` names the file (``model.skops``
or ``model.pkl``), ``serialization_format`` says how to read it, ``skops_trusted_types``
lists the types skops does not trust by default, and ``python_function`` loads through
``mlflow.sklearn``. MLflow passes that list to skops as it is; this package ignores it
and asks the file itself (so an edited MLmodel cannot make a type trusted). Folders of
version 0.1 name the skops file ``skops_model`` and the list ``untrusted_types``.
"""

from __future__ import annotations

import importlib.abc
import sys
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

from ..._importers import import_optional
from ...errors import InvalidParameter, MissingDependency, UntrustedModel
from . import LoadContext, SaveContext, in_sys_modules

SKOPS_FILE = "model.skops"
PICKLE_FILE = "model.pkl"
FORMATS = ("skops", "cloudpickle", "pickle")

#: Array libraries that importing skops would import (through scikit-learn's estimator
#: discovery, which imports every package it walks) although no model needs them here.
_WALKED_ARRAY_LIBRARIES = ("torch", "cupy", "jax", "dask", "ndonnx")


def import_skops() -> ModuleType:
    """``skops.io``, without letting its import pull in torch, jax... (seconds each).

    Importing skops walks every scikit-learn module to list the estimators it trusts by
    default (about a second, most of a scoring server's start), and searches every loaded
    module for each numpy and scipy ufunc to name the functions it trusts (a fifth of
    what is left). Both lists depend only on the installed versions, so they are kept in
    a cache file (see :func:`_names_cache`) and handed to skops on later imports.
    """
    module = sys.modules.get("skops.io")
    if module is not None:
        return module
    sklearn = import_sklearn()
    import sklearn.utils as sk_utils

    cache = _names_cache(sklearn)
    cached = _read_names(cache) if cache is not None else None
    names = cached["estimators"] if cached is not None else None
    internal = cached.get("internal") if cached is not None else None
    try:
        module, types = _import_skops_io(sk_utils, names, cached, internal is not None)
    except MissingDependency as exc:
        cause = exc.__cause__
        if internal is None or not isinstance(cause, ImportError) \
                or not (cause.name or "").startswith("sklearn.ensemble"):
            raise
        internal = None  # a skops that needs scikit-learn's ensembles: let it import them
        module, types = _import_skops_io(sk_utils, names, cached, False)
    from skops.io import _trusted_types

    if internal is not None:
        # skops lists HistGradientBoosting's _BinMapper only when it could import it
        listed = _trusted_types.SKLEARN_INTERNAL_TYPE_NAMES
        listed += [n for n in internal if n not in listed]
    if cache is not None and (names is None or internal is None or types.walked):
        _write_names(cache, {"estimators": sorted(_trusted_types.SKLEARN_ESTIMATOR_TYPE_NAMES),
                            "internal": sorted(_trusted_types.SKLEARN_INTERNAL_TYPE_NAMES),
                            "public_types": types.names})
    return module


def _import_skops_io(sk_utils: Any, names: list[str] | None,
                     cached: dict[str, Any] | None, skip_ensembles: bool,
                     ) -> tuple[ModuleType, _PublicTypeNames]:
    """Import ``skops.io`` with the cached names standing in for its walks; with
    ``skip_ensembles``, without importing ``sklearn.ensemble`` (a tenth of the import)
    only to name one class the cache already names."""
    refused = {n for n in _WALKED_ARRAY_LIBRARIES if n not in sys.modules}
    if skip_ensembles and "sklearn.ensemble" not in sys.modules:
        refused.add("sklearn.ensemble")
    refuse = _Refuse(refused)
    types = _PublicTypeNames(cached["public_types"] if cached is not None else {})
    walk = sk_utils.all_estimators
    if names is not None:
        sk_utils.all_estimators = lambda *a, **k: [
            (n.rsplit(".", 1)[1], _Named(n)) for n in names]
    sys.meta_path[:0] = [types, refuse]
    try:
        module = import_optional("skops.io", "models", "skops")
    finally:
        sys.meta_path.remove(refuse)
        sys.meta_path.remove(types)
        types.restore()
        sk_utils.all_estimators = walk
    return module, types


def import_sklearn() -> ModuleType:
    """scikit-learn, without the pandas import it makes only to have pandas at hand.

    scikit-learn imports pandas (half a second) when it is installed, in a module that
    does without it otherwise, and recognises DataFrames later through ``sys.modules``.
    A scoring server whose requests never need a DataFrame then never pays for pandas;
    code that needs pandas imports it as usual.
    """
    module = sys.modules.get("sklearn")
    if module is not None:
        return module
    if "pandas" in sys.modules:
        return import_optional("sklearn", "models", "scikit-learn")
    refuse = _Refuse({"pandas"})
    sys.meta_path.insert(0, refuse)
    try:
        return import_optional("sklearn", "models", "scikit-learn")
    except MissingDependency as exc:
        cause = exc.__cause__
        if not isinstance(cause, ImportError) or (cause.name or "").split(".")[0] != "pandas":
            raise
    finally:
        sys.meta_path.remove(refuse)
    # a scikit-learn that cannot be imported without pandas: import it with pandas
    return import_optional("sklearn", "models", "scikit-learn")


class _Named:
    """Stands for an estimator class where skops only reads its module and name."""

    def __init__(self, dotted: str):
        self.__module__, self.__name__ = dotted.rsplit(".", 1)


def _names_cache(sklearn: ModuleType) -> Any:
    """The cache file of skops's default-trusted names for the installed scikit-learn,
    skops, numpy and scipy (``$XDG_CACHE_HOME/jupyter_mltrack``), or None to walk."""
    import hashlib
    import importlib.metadata
    import os
    from pathlib import Path

    if os.environ.get("MLTRACK_NO_SKOPS_CACHE"):
        return None
    try:
        versions = "|".join((sklearn.__version__, importlib.metadata.version("skops"),
                             *(getattr(sys.modules.get(m), "__version__", "")
                               for m in ("numpy", "scipy")),
                             str(Path(sklearn.__file__ or "").parent), sys.version))
    except importlib.metadata.PackageNotFoundError:
        return None
    key = hashlib.sha256(versions.encode()).hexdigest()[:16]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "jupyter_mltrack" / f"skops-trusted-{key}.json"


def _read_names(path: Any) -> dict[str, Any] | None:
    """The cached names, when the file is this user's own and not writable by others
    (the lists widen what skops loads, so they are trusted as much as ``__pycache__``),
    and every name lies inside the package it was listed for."""
    import json
    import os
    import stat

    try:
        info = path.stat()
        if info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return None
        cached = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(cached, dict) or not _names_within(cached.get("estimators"), "sklearn"):
        return None
    if "internal" in cached and not _names_within(cached["internal"], "sklearn"):
        return None
    types = cached.get("public_types")
    if not isinstance(types, dict) or not all(
            isinstance(key, str) and _names_within(names, key.split(":")[0].split(".")[0],
                                                   empty=True)
            for key, names in types.items()):
        return None
    return cached


def _names_within(names: Any, package: str, empty: bool = False) -> bool:
    """A list of dotted names inside ``package`` (not empty, unless ``empty``)."""
    return isinstance(names, list) and (empty or bool(names)) and all(
        isinstance(n, str) and n.startswith(package + ".") for n in names)


def _write_names(path: Any, cached: dict[str, Any]) -> None:
    import json
    import os
    import tempfile

    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".skops-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(cached, out, sort_keys=True)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home only costs the walk next time


class _PublicTypeNames(importlib.abc.MetaPathFinder):
    """Answers skops's ``get_public_type_names(module, oftype)`` from the cache while
    skops is imported, walking (and noting the result) only for what is not cached.

    It imports nothing itself: just before ``skops.io._trusted_types`` (which asks for
    the names as it is imported) is found, it puts its lookup in skops's ``_utils``.
    """

    MODULE = "skops.io._trusted_types"

    def __init__(self, cached: dict[str, list[str]]):
        self.names = dict(cached)
        self.walked = False
        self._utils: Any = None
        self._walk: Any = None

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        if fullname == self.MODULE and self._utils is None:
            import importlib

            self._utils = importlib.import_module("skops.io._utils")
            self._walk = self._utils.get_public_type_names
            self._utils.get_public_type_names = self.lookup
        return None

    def lookup(self, module: ModuleType, oftype: type) -> list[str]:
        key = f"{module.__name__}:{oftype.__module__}.{oftype.__qualname__}"
        names = self.names.get(key)
        if names is None:
            names = self.names[key] = list(self._walk(module=module, oftype=oftype))
            self.walked = True
        return list(names)

    def restore(self) -> None:
        if self._utils is not None:
            self._utils.get_public_type_names = self._walk


class _Refuse(importlib.abc.MetaPathFinder):
    """Makes ``import name`` fail for a few names, as if they were not installed, in the
    thread that made it (other threads import as usual)."""

    def __init__(self, names: set[str]):
        self.names = names
        self.thread = threading.get_ident()

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        if (fullname.split(".")[0] in self.names or any(
                fullname == n or fullname.startswith(n + ".") for n in self.names if "." in n)) \
                and threading.get_ident() == self.thread:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


class SklearnFlavor:
    """scikit-learn estimators, pipelines included."""

    name = "sklearn"
    priority = 10

    def can_save(self, model: Any) -> bool:
        if not in_sys_modules("sklearn"):
            return False
        from sklearn.base import BaseEstimator

        return isinstance(model, BaseEstimator)

    def save(self, model: Any, ctx: SaveContext) -> dict[str, Any]:
        sklearn = import_optional("sklearn", "models", "scikit-learn")
        fmt = ctx.options.pop("serialization_format", "skops")
        if fmt not in FORMATS:
            raise InvalidParameter(
                f"serialization_format is one of {', '.join(FORMATS)}, not {fmt!r}."
            )
        conf: dict[str, Any] = {"sklearn_version": sklearn.__version__,
                                "serialization_format": fmt}
        if fmt == "skops":
            conf["pickled_model"] = SKOPS_FILE
            conf["skops_trusted_types"] = save_skops(model, ctx.path / SKOPS_FILE)
        else:
            conf["pickled_model"] = PICKLE_FILE
            save_pickle(model, ctx.path / PICKLE_FILE, fmt)
        return conf

    def python_function(self, conf: dict[str, Any]) -> dict[str, Any]:
        return {"loader_module": "mlflow.sklearn", "model_path": conf["pickled_model"],
                "predict_fn": "predict"}

    def load(self, ctx: LoadContext) -> Any:
        conf = ctx.conf
        if conf.get("skops_model"):  # version 0.1
            return load_skops(ctx.file("skops_model"), lambda: ctx.trusted)
        # MLflow reads a folder without a format as pickle; so does this (needing trust)
        if conf.get("serialization_format", "pickle") == "skops":
            return load_skops(ctx.file("pickled_model", SKOPS_FILE), lambda: ctx.trusted)
        return load_pickle(ctx.file("pickled_model", PICKLE_FILE), ctx.trusted)

    def predict(self, native: Any, data: Any, params: dict[str, Any]) -> Any:
        names = getattr(native, "feature_names_in_", None)
        if names is not None and _numeric_frame_in_order(data, names):
            # the names were checked here: skip scikit-learn's per-call DataFrame checks,
            # which cost more than predicting one row
            return self.predict_array(native, data.to_numpy(), params)
        return native.predict(data, **params)

    def takes_array(self, native: Any, names: list[str]) -> bool:
        """True for an estimator fitted on a DataFrame of exactly these columns."""
        fitted = getattr(native, "feature_names_in_", None)
        return fitted is not None and len(fitted) == len(names) and all(
            str(a) == str(b) for a, b in zip(fitted, names, strict=True))

    def predict_array(self, native: Any, array: Any, params: dict[str, Any]) -> Any:
        import warnings

        with warnings.catch_warnings():
            # the caller matched the columns to the fitted names
            warnings.filterwarnings("ignore", message="X does not have valid feature names")
            return native.predict(array, **params)

    def modules(self, model: Any, conf: dict[str, Any]) -> list[str]:
        fmt = conf.get("serialization_format")
        return ["sklearn", "numpy", "skops" if fmt == "skops" else
                "cloudpickle" if fmt == "cloudpickle" else ""]


def _numeric_frame_in_order(data: Any, names: Any) -> bool:
    """A DataFrame whose columns are exactly ``names`` and all of one float dtype."""
    columns = getattr(data, "columns", None)
    if columns is None or len(columns) != len(names) or not all(
            str(a) == str(b) for a, b in zip(columns, names, strict=True)):
        return False
    dtypes = set(map(str, data.dtypes))
    return len(dtypes) == 1 and dtypes <= {"float64", "float32"}


def save_skops(model: Any, path: Any) -> list[str]:
    """Dump ``model`` with skops; return the types a loader must be told to trust."""
    sio = import_skops()
    try:
        sio.dump(model, path)
        untrusted = sorted(sio.get_untrusted_types(file=path))
    except Exception as exc:
        path.unlink(missing_ok=True)
        raise InvalidParameter(
            f"skops cannot save this {type(model).__name__} ({type(exc).__name__}: {exc}). "
            "Pass serialization_format='cloudpickle' to save it with pickle instead; loading "
            "it from outside the store then needs trust=True."
        ) from exc
    local = [t for t in untrusted if t.startswith("__main__.")]
    if local:
        path.unlink(missing_ok=True)
        raise InvalidParameter(
            f"The model uses {', '.join(local)}, defined in this notebook or script, which "
            "another process cannot import. Move the class into a module file and pass "
            "code_paths=['that_file.py'], or pass serialization_format='cloudpickle'."
        )
    return list(untrusted)


def load_skops(path: Any, trusted: bool | Callable[[], bool]) -> Any:
    """Load a skops file; types skops does not trust by default need a trusted source."""
    sio = import_skops()
    found = sorted(sio.get_untrusted_types(file=path))
    if found and not (trusted if isinstance(trusted, bool) else trusted()):
        raise UntrustedModel(
            f"This model holds types that skops does not trust by default: "
            f"{', '.join(found)}. Loading them runs their code; if you trust the source, "
            "pass trust=True."
        )
    return sio.load(path, trusted=found or None)


def save_pickle(obj: Any, path: Any, fmt: str = "cloudpickle") -> None:
    import pickle

    if fmt == "cloudpickle":
        cloudpickle = import_optional("cloudpickle", "models")
        data = cloudpickle.dumps(obj, protocol=pickle.DEFAULT_PROTOCOL)
    else:
        data = pickle.dumps(obj, protocol=pickle.DEFAULT_PROTOCOL)
    path.write_bytes(data)


def load_pickle(path: Any, trusted: bool) -> Any:
    if not trusted:
        raise UntrustedModel(
            "This model is stored with pickle, and loading a pickle that log_model did not "
            "write into this store can run any code. If you trust its source, pass "
            "trust=True."
        )
    import pickle

    with open(path, "rb") as handle:
        return pickle.load(handle)  # noqa: S301 - only after the caller trusted the source


flavor = SklearnFlavor()
