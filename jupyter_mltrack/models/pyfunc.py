"""The one interface every loaded model has: ``predict(data, params=None)``.

:class:`PythonModel` is the base class for models written in plain Python;
:class:`PyFuncModel` is what :func:`~jupyter_mltrack.models.load_model` returns, whatever
framework made the model.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidModel
from .example import read_input_example
from .flavors import PredictsArrays
from .format import PYFUNC, ModelMeta
from .signature import (
    ModelSignature,
    array_columns,
    as_table_or_array,
    enforce_input,
    enforce_params,
)


@dataclass
class PythonModelContext:
    """What ``PythonModel.load_context`` gets: local paths of the model's artifacts."""

    artifacts: dict[str, str] = field(default_factory=dict)
    model_config: dict[str, Any] = field(default_factory=dict)


class PythonModel:
    """Base class of a model written in Python.

    Override ``predict``; override ``load_context`` to read files given to
    ``log_model(..., artifacts={"name": "path"})`` once, when the model loads::

        class AddN(mltrack.PythonModel):
            def __init__(self, n):
                self.n = n

            def predict(self, context, model_input, params=None):
                return model_input + self.n

    ``predict(self, model_input, params=None)`` (without ``context``) works too.
    """

    def load_context(self, context: PythonModelContext) -> None:
        """Called once after loading, before the first ``predict``."""

    def predict(self, context: PythonModelContext, model_input: Any,
                params: dict[str, Any] | None = None) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define predict().")


def takes_context(method: Any) -> bool:
    """Whether a ``predict`` method's first argument is the context."""
    try:
        names = list(inspect.signature(method).parameters)
    except (TypeError, ValueError):
        return True
    return bool(names) and names[0] == "context"


class PyFuncModel:
    """A loaded model: ``predict`` checks the input against the signature, then calls it."""

    def __init__(self, meta: ModelMeta, native: Any, flavor: Any, path: Path,
                 source: str = ""):
        self._meta = meta
        self._native = native
        self._flavor = flavor
        self._path = path
        self._source = source
        self._example: Any = _UNSET
        self._array_input: Any = _UNSET

    def __repr__(self) -> str:
        where = f" from {self._source}" if self._source else ""
        return f"<PyFuncModel {self._meta.flavor}{where}>"

    @property
    def metadata(self) -> ModelMeta:
        """The model's MLmodel file."""
        return self._meta

    @property
    def signature(self) -> ModelSignature | None:
        return self._meta.signature

    @property
    def flavor(self) -> str:
        return self._meta.flavor

    @property
    def native(self) -> Any:
        """The framework object (the same as ``load_native`` returns)."""
        return self._native

    def get_raw_model(self) -> Any:
        """The framework object; MLflow's name for :attr:`native`."""
        return self._native

    def unwrap_python_model(self) -> Any:
        """The ``PythonModel`` (or function) a python model was logged with."""
        if self._meta.flavor != PYFUNC:
            raise InvalidModel(
                f"This is a {self._meta.flavor} model, not one logged with a PythonModel; "
                "get_raw_model() returns its framework object."
            )
        return self._native

    @property
    def input_example(self) -> Any:
        """The example logged with the model (a DataFrame or an array), or None."""
        if self._example is _UNSET:
            self._example = read_input_example(self._path, self._meta)
        return self._example

    @property
    def array_input(self) -> tuple[list[str], str] | None:
        """``(column names, dtype)`` when :meth:`predict` takes this model's table as a
        2-D numpy array of that dtype, columns in the signature's order, and passes it on
        without building a DataFrame: a signature of only double (or only float) columns
        and a flavor that predicts the same from the array. None otherwise."""
        if self._array_input is _UNSET:
            found = None
            signature = self._meta.signature
            columns = array_columns(signature.inputs if signature is not None else None)
            if columns is not None and isinstance(self._flavor, PredictsArrays) \
                    and self._flavor.takes_array(self._native, columns[0]):
                found = columns
            self._array_input = found
        return self._array_input

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        """Predictions for a DataFrame, a numpy array, a list of records or a dict of columns.

        Input that does not fit the signature raises SignatureError naming the column.
        """
        signature = self._meta.signature
        columns = self.array_input
        if columns is not None and _is_array_of(data, columns):
            if signature is not None and (signature.params or params):
                params = enforce_params(params, signature.params)
            return self._flavor.predict_array(self._native, data, dict(params or {}))
        if signature is not None and signature.inputs is not None:
            data = enforce_input(data, signature.inputs)
        else:
            data = as_table_or_array(data)
        if signature is not None and (signature.params or params):
            params = enforce_params(params, signature.params)
        return self._flavor.predict(self._native, data, dict(params or {}))


def _is_array_of(data: Any, columns: tuple[list[str], str]) -> bool:
    """A plain 2-D numpy array of ``columns``' dtype, one column per name."""
    if type(data).__name__ != "ndarray" or type(data).__module__ != "numpy":
        return False
    return data.ndim == 2 and data.shape[1] == len(columns[0]) and data.dtype == columns[1]


class _Unset:
    pass


_UNSET = _Unset()
