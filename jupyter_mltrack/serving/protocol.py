"""MLflow's scoring protocol: request bodies to model input, predictions to JSON.

A JSON body holds exactly one of ``dataframe_split``, ``dataframe_records``,
``instances`` or ``inputs``, and optionally ``params``; a ``text/csv`` body is a table
with a header row. The answer is ``{"predictions": ...}``.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping
from typing import Any

from ..errors import InvalidParameter, MLTrackError

INPUT_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
JSON_TYPES = ("application/json",)
CSV_TYPES = ("text/csv",)


class UnsupportedMediaType(MLTrackError):
    """A request body in a content type the scoring server does not read."""

    http_status = 415


class BodyTooLarge(MLTrackError):
    """A request body over the server's size limit."""

    http_status = 413


def media_type(content_type: str | None) -> str:
    """``application/json; charset=utf-8`` -> ``application/json``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def check_media_type(content_type: str | None) -> str:
    """``json`` or ``csv`` for a content type the server reads; UnsupportedMediaType else."""
    kind = media_type(content_type)
    if kind in JSON_TYPES or kind.endswith("+json"):
        return "json"
    if kind in CSV_TYPES:
        return "csv"
    raise UnsupportedMediaType(
        f"Content type {content_type or '(none)'!r} is not supported; send "
        "'application/json' (with one of " + ", ".join(INPUT_KEYS) + ") or 'text/csv'."
    )


def parse_request(body: bytes, content_type: str | None,
                  array_input: tuple[list[str], str] | None = None,
                  ) -> tuple[Any, dict[str, Any] | None]:
    """The model input and the inference parameters a request body holds.

    ``array_input`` is the model's ``(column names, dtype)`` when it takes its table as
    an array (:attr:`PyFuncModel.array_input`): JSON rows that are only numbers, one per
    column, then become that array instead of a DataFrame.
    """
    if check_media_type(content_type) == "json":
        return parse_json(body, array_input)
    return parse_csv(body), None


def parse_json(body: bytes, array_input: tuple[list[str], str] | None = None,
               ) -> tuple[Any, dict[str, Any] | None]:
    """Model input and params from a JSON scoring request."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidParameter(f"The request body is not valid JSON: {exc}.") from None
    if not isinstance(payload, dict):
        raise InvalidParameter(
            "The request body must be a JSON object with one of the keys "
            + ", ".join(INPUT_KEYS) + f"; got a JSON {type(payload).__name__}."
        )
    keys = [k for k in INPUT_KEYS if k in payload]
    unknown = sorted(set(payload) - set(INPUT_KEYS) - {"params"})
    if len(keys) != 1 or unknown:
        found = ", ".join(map(repr, sorted(payload))) or "none"
        raise InvalidParameter(
            "The request body must hold exactly one of the keys " + ", ".join(INPUT_KEYS)
            + f" (plus an optional 'params'); it has {found}."
        )
    params = payload.get("params")
    if params is not None and not isinstance(params, dict):
        raise InvalidParameter("'params' must be a JSON object of parameter names to values.")
    key = keys[0]
    value = payload[key]
    if array_input is not None:
        array = _number_rows(key, value, *array_input)
        if array is not None:
            return array, params
    if key == "dataframe_split":
        return _split_frame(value), params
    if key == "dataframe_records":
        return _records_frame(value), params
    return _tensor_input(key, value), params


def _number_rows(key: str, value: Any, names: list[str], dtype: str) -> Any:
    """A ``dtype`` array of the rows when they are only numbers, one per column of
    ``names`` in that order (records: by name); None for anything else, which takes the
    DataFrame path and its checks and messages."""
    if key == "dataframe_split":
        if not isinstance(value, dict) or value.get("columns") != names or "index" in value:
            return None
        rows = value.get("data")
    elif isinstance(value, list) and value and isinstance(value[0], dict):  # records
        if not all(isinstance(r, dict) and len(r) == len(names) for r in value):
            return None
        try:
            rows = [[r[n] for n in names] for r in value]
        except KeyError:
            return None
    elif key == "dataframe_records" or not isinstance(value, list):
        return None
    else:
        rows = value
    if not isinstance(rows, list) or not rows:
        return None
    width = len(names)
    for row in rows:
        if type(row) is not list or len(row) != width:
            return None
        for v in row:
            kind = type(v)
            # bool, None and text take the DataFrame path (and its refusals); so do whole
            # numbers pandas would not hold as int64
            if kind is not float and (kind is not int or not _INT64_MIN <= v <= _INT64_MAX):
                return None
    import numpy as np

    return np.array(rows, dtype=dtype)


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _split_frame(value: Any) -> Any:
    import pandas as pd

    if not isinstance(value, dict) or not isinstance(value.get("data"), list):
        raise InvalidParameter(
            "'dataframe_split' must be an object {\"columns\": [...], \"data\": [[...], ...]}."
        )
    data = value["data"]
    columns = value.get("columns")
    if columns is not None and not isinstance(columns, list):
        raise InvalidParameter("'dataframe_split.columns' must be a list of column names.")
    if columns is not None:
        for i, row in enumerate(data):
            if not isinstance(row, list) or len(row) != len(columns):
                raise InvalidParameter(
                    f"'dataframe_split.data' row {i} has "
                    f"{len(row) if isinstance(row, list) else 'no list of'} value(s) but there "
                    f"are {len(columns)} columns ({', '.join(map(str, columns))})."
                )
    try:
        return pd.DataFrame(data, columns=columns, index=value.get("index"))
    except (ValueError, TypeError) as exc:
        raise InvalidParameter(f"'dataframe_split' does not form a table: {exc}.") from None


def _records_frame(value: Any) -> Any:
    import pandas as pd

    if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
        raise InvalidParameter(
            "'dataframe_records' must be a list of objects, one per row: "
            "[{\"column\": value, ...}, ...]."
        )
    if not value:
        raise InvalidParameter("'dataframe_records' is empty; send at least one row.")
    return pd.DataFrame.from_records(value)


def _tensor_input(key: str, value: Any) -> Any:
    if isinstance(value, list):
        if not value:
            raise InvalidParameter(f"'{key}' is empty; send at least one row.")
        if all(isinstance(v, dict) for v in value):
            return _records_frame(value)
        return value
    if isinstance(value, dict):
        if not value:
            raise InvalidParameter(f"'{key}' is an empty object; send at least one column.")
        return value
    raise InvalidParameter(
        f"'{key}' must be a list of rows or an object of columns; got a JSON "
        f"{type(value).__name__}."
    )


def rows_as_table(data: Any, signature: Any) -> Any:
    """Rows (lists) for a model with named columns become a table with those names, so
    that each column keeps its own type (a long column stays whole numbers)."""
    if not isinstance(data, list) or signature is None or signature.inputs is None:
        return data
    schema = signature.inputs
    if schema.is_tensor or not schema.has_names:
        return data
    names = schema.names
    if not all(isinstance(row, list) and len(row) == len(names) for row in data):
        return data
    import pandas as pd

    return pd.DataFrame(data, columns=names)


def parse_csv(body: bytes) -> Any:
    """A table from CSV text with a header row."""
    import pandas as pd

    if not body.strip():
        raise InvalidParameter("The CSV body is empty; send a header row and at least one row.")
    try:
        return pd.read_csv(io.BytesIO(body))
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InvalidParameter(f"The request body is not valid CSV: {exc}".rstrip() + ".") \
            from None


def predictions_payload(predictions: Any) -> dict[str, Any]:
    """``{"predictions": ...}`` holding only JSON values."""
    return {"predictions": to_jsonable(predictions)}


def to_jsonable(value: Any) -> Any:
    """Plain lists, dicts, numbers and strings for a prediction of any framework."""
    module = type(value).__module__
    if module.startswith("pandas"):
        import pandas as pd

        if isinstance(value, pd.DataFrame):
            return [{str(k): _clean(v) for k, v in row.items()}
                    for row in value.to_dict(orient="records")]
        if isinstance(value, pd.Series):
            return to_jsonable(value.to_numpy())
    if module == "numpy" and hasattr(value, "dtype") and getattr(value, "ndim", 0) > 0:
        import numpy as np

        kind = value.dtype.kind
        if kind in "iub":
            return value.tolist()
        if kind == "f":
            finite = np.isfinite(value)
            if finite.all():
                return value.tolist()
            out = value.astype(object)
            out[~finite] = None
            return out.tolist()
        return _clean(value.tolist())
    if module.startswith(("torch", "tensorflow", "keras")) and hasattr(value, "numpy"):
        return to_jsonable(value.detach().cpu().numpy() if hasattr(value, "detach")
                           else value.numpy())
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return _clean(value)


def _clean(value: Any) -> Any:
    """NaN and infinities become null (JSON has no word for them); tensors become lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (bytes, bytearray)):
        import base64

        return base64.b64encode(value).decode("ascii")
    if hasattr(value, "tolist"):
        return _clean(value.tolist())
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def dumps(payload: Any) -> bytes:
    """Compact JSON bytes."""
    return json.dumps(payload, separators=(",", ":"), allow_nan=False, default=str).encode()
