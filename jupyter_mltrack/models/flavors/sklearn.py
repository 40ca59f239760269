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
    default (about a second, most of a scoring server's start). The list depends only on
    the installed versions, so it is kept in a cache file (see :func:`_names_cache`) and
    handed to skops on later imports instead of walking again.
    """
    module = sys.modules.get("skops.io")
    if module is not None:
        return module
    sklearn = import_sklearn()
    import sklearn.utils as sk_utils

    refuse = _Refuse({n for n in _WALKED_ARRAY_LIBRARIES if n not in sys.modules})
    cache = _names_cache(sklearn)
    names = _read_names(cache) if cache is not None else None
    walk = sk_utils.all_estimators
    if names is not None:
        sk_utils.all_estimators = lambda *a, **k: [
            (n.rsplit(".", 1)[1], _Named(n)) for n in names]
    sys.meta_path.insert(0, refuse)
    try:
        module = import_optional("skops.io", "models", "skops")
    finally:
        sys.meta_path.remove(refuse)
        sk_utils.all_estimators = walk
    if names is None and cache is not None:
        from skops.io import _trusted_types

        _write_names(cache, list(_trusted_types.SKLEARN_ESTIMATOR_TYPE_NAMES))
    return module


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
    """The cache file of skops's default-trusted estimator names for the installed
    scikit-learn and skops (``$XDG_CACHE_HOME/jupyter_mltrack``), or None to walk."""
    import hashlib
    import importlib.metadata
    import os
    from pathlib import Path

    if os.environ.get("MLTRACK_NO_SKOPS_CACHE"):
        return None
    try:
        versions = "|".join((sklearn.__version__, importlib.metadata.version("skops"),
                             str(Path(sklearn.__file__ or "").parent), sys.version))
    except importlib.metadata.PackageNotFoundError:
        return None
    key = hashlib.sha256(versions.encode()).hexdigest()[:16]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "jupyter_mltrack" / f"skops-trusted-{key}.json"


def _read_names(path: Any) -> list[str] | None:
    """The cached names, when the file is this user's own and not writable by others
    (the list widens what skops loads, so it is trusted as much as ``__pycache__``)."""
    import json
    import os
    import stat

    try:
        info = path.stat()
        if info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return None
        names = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if (not isinstance(names, list) or not names
            or not all(isinstance(n, str) and n.startswith("sklearn.") and "." in n
                       for n in names)):
        return None
    return names


def _write_names(path: Any, names: list[str]) -> None:
    import json
    import os
    import tempfile

    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".skops-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(sorted(names), out)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home only costs the walk next time


class _Refuse(importlib.abc.MetaPathFinder):
    """Makes ``import name`` fail for a few names, as if they were not installed, in the
    thread that made it (other threads import as usual)."""

    def __init__(self, names: set[str]):
        self.names = names
        self.thread = threading.get_ident()

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        if fullname.split(".")[0] in self.names and threading.get_ident() == self.thread:
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
