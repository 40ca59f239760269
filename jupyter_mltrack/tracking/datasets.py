"""Datasets as run inputs: a DataFrame or array described the way MLflow describes it.

:func:`dataset_entity` turns what a user passes to ``log_input`` (a pandas DataFrame, a
numpy array, a :class:`~jupyter_mltrack.entities.Dataset`, or an MLflow dataset object)
into a ``Dataset``: a name, a content digest, a source (JSON), a schema and a profile
(JSON), in MLflow's field layout so that MLflow tools read them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..entities import Dataset
from ..errors import InvalidParameter

DEFAULT_NAME = "dataset"
MAX_DIGEST_ROWS = 10_000  # rows hashed for a DataFrame's digest, as MLflow does

_NUMPY_TO_COLUMN = {"b": "boolean", "i": "long", "u": "long", "f": "double", "M": "datetime",
                    "S": "binary"}


def _digest(parts: list[bytes]) -> str:
    md5 = hashlib.md5(usedforsecurity=False)
    for part in parts:
        md5.update(part)
    return md5.hexdigest()[:8]


def _code_source() -> tuple[str, str]:
    """The code logging the data, as MLflow's code source records it."""
    import sys

    from .context import current_user

    main = sys.modules.get("__main__")
    where = getattr(main, "__file__", None) or (sys.argv[0] if sys.argv else "") or "<notebook>"
    kind = "NOTEBOOK" if "ipykernel" in sys.modules else "LOCAL"
    return "code", json.dumps({"tags": {"mlflow.user": current_user(),
                                        "mlflow.source.name": str(where),
                                        "mlflow.source.type": kind}})


def _column_type(dtype: Any) -> str:
    if dtype.kind in _NUMPY_TO_COLUMN:
        if dtype.kind == "i" and dtype.itemsize <= 4:
            return "integer"
        if dtype.kind == "f" and dtype.itemsize <= 4:
            return "float"
        return _NUMPY_TO_COLUMN[dtype.kind]
    return "string"


def _frame_dataset(frame: Any, name: str | None, source: tuple[str, str]) -> Dataset:
    import numpy as np
    import pandas as pd

    head = frame.head(MAX_DIGEST_ROWS)
    hashable = [c for c in head.columns
                if head[c].dtype.kind in "biufcM" or head[c].map(type).eq(str).all()]
    hashed = pd.util.hash_pandas_object(head[hashable], index=False).to_numpy()
    digest = _digest([np.ascontiguousarray(hashed).tobytes(),
                      np.asarray(frame.shape, dtype=np.int64).tobytes()])
    colspec = [{"type": _column_type(frame[c].dtype), "name": str(c), "required": True}
               for c in frame.columns]
    schema = json.dumps({"mlflow_colspec": colspec})
    profile = json.dumps({"num_rows": len(frame),
                          "num_elements": int(frame.size)})
    return Dataset(name or DEFAULT_NAME, digest, source[0], source[1], schema, profile)


def _array_dataset(array: Any, name: str | None, source: tuple[str, str]) -> Dataset:
    import numpy as np

    flat = np.ascontiguousarray(array.reshape(-1)[:MAX_DIGEST_ROWS * 10])
    payload = flat.tobytes() if flat.dtype.kind != "O" else repr(flat.tolist()).encode()
    digest = _digest([payload, np.asarray(array.shape, dtype=np.int64).tobytes()])
    spec = [{"type": "tensor", "tensor-spec": {"dtype": str(array.dtype),
                                               "shape": [-1, *array.shape[1:]]}}]
    schema = json.dumps({"mlflow_tensorspec": {"features": json.dumps(spec), "targets": None}})
    profile = json.dumps({"features_shape": list(array.shape),
                          "features_size": int(array.size),
                          "features_nbytes": int(array.nbytes)})
    return Dataset(name or DEFAULT_NAME, digest, source[0], source[1], schema, profile)


def dataset_entity(data: Any, name: str | None = None, source: str | None = None) -> Dataset:
    """A ``Dataset`` for a pandas DataFrame, a numpy array, a ``Dataset`` (returned as is)
    or an MLflow dataset object.

    ``source`` is where the data came from (a path or URI); without it the source is the
    code that logged it, as in MLflow.
    """
    if isinstance(data, Dataset):
        return data
    to_entity = getattr(data, "_to_mlflow_entity", None)
    if callable(to_entity):  # an mlflow.data dataset: take its description as it is
        e = to_entity()
        return Dataset(str(e.name), str(e.digest), str(e.source_type), str(e.source),
                       e.schema, e.profile)
    where = (("external", json.dumps({"uri": str(source)})) if source is not None
             else _code_source())
    module = type(data).__module__.split(".")[0]
    if module == "pandas" and hasattr(data, "columns"):
        return _frame_dataset(data, name, where)
    if module == "numpy" and hasattr(data, "shape"):
        return _array_dataset(data, name, where)
    raise InvalidParameter(
        f"log_input takes a pandas DataFrame, a numpy array or a Dataset, not "
        f"{type(data).__name__}. Convert it first, e.g. pandas.DataFrame(data)."
    )
