"""Model signatures: what a model takes and returns, inferred from an example, enforced.

A signature holds an input schema, an output schema and optional parameters. A schema
is either columns (``ColSpec``: name and type, for tables) or tensors (``TensorSpec``:
dtype and shape, ``-1`` for a free dimension). The JSON form is MLflow's, so that an
``MLmodel`` file written here reads the same way there.

``enforce_input`` converts what a caller passes to what the model was trained on:
safe conversions (int to double, a wider int, float32 to float64, column order) happen
silently; a missing column or a type that cannot be converted raises
:class:`~jupyter_mltrack.errors.SignatureError` naming the column and both types.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidParameter, SignatureError

#: Column types, with the numpy dtype each stands for.
COLUMN_TYPES: dict[str, str] = {
    "boolean": "bool",
    "integer": "int32",
    "long": "int64",
    "float": "float32",
    "double": "float64",
    "string": "object",
    "binary": "object",
    "datetime": "datetime64[ns]",
}


@dataclass(frozen=True)
class ColSpec:
    """One column: its type (``double``, ``long``, ``string``...) and name."""

    type: str
    name: str | None = None
    required: bool = True

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.name is not None:
            out["name"] = self.name
        out["required"] = self.required
        return out

    def __str__(self) -> str:
        return f"{self.name} ({self.type})" if self.name is not None else self.type


@dataclass(frozen=True)
class TensorSpec:
    """One tensor: a numpy dtype name and a shape, ``-1`` where any size fits."""

    dtype: str
    shape: tuple[int, ...]
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "tensor",
                               "tensor-spec": {"dtype": self.dtype, "shape": list(self.shape)}}
        if self.name is not None:
            out["name"] = self.name
        return out

    def __str__(self) -> str:
        shape = "x".join("?" if d == -1 else str(d) for d in self.shape)
        return f"{self.name + ': ' if self.name else ''}{self.dtype}[{shape}]"


@dataclass(frozen=True)
class ParamSpec:
    """One inference parameter: name, type, default value and shape (None or (-1,))."""

    name: str
    type: str
    default: Any = None
    shape: tuple[int, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "default": self.default,
                "shape": list(self.shape) if self.shape is not None else None}


@dataclass(frozen=True)
class Schema:
    """An ordered list of column specs, or of tensor specs (never both)."""

    inputs: tuple[ColSpec | TensorSpec, ...]

    def __post_init__(self) -> None:
        kinds = {type(s) for s in self.inputs}
        if len(kinds) > 1:
            raise InvalidParameter("A schema holds either columns or tensors, not both.")

    @property
    def is_tensor(self) -> bool:
        return bool(self.inputs) and isinstance(self.inputs[0], TensorSpec)

    @property
    def names(self) -> list[str | None]:
        return [s.name for s in self.inputs]

    @property
    def has_names(self) -> bool:
        return bool(self.inputs) and all(s.name is not None for s in self.inputs)

    def to_json(self) -> str:
        return json.dumps([s.to_dict() for s in self.inputs])

    @classmethod
    def from_json(cls, text: str | list[Any]) -> Schema:
        items = json.loads(text) if isinstance(text, str) else text
        if not isinstance(items, list):
            raise InvalidParameter(f"A schema is a JSON list of specs, not {text!r}.")
        specs: list[ColSpec | TensorSpec] = []
        for item in items:
            if item.get("type") == "tensor":
                spec = item["tensor-spec"]
                specs.append(TensorSpec(str(spec["dtype"]), tuple(int(d) for d in spec["shape"]),
                                        item.get("name")))
            else:
                kind = str(item.get("type"))
                if kind not in COLUMN_TYPES:
                    raise InvalidParameter(
                        f"Unknown column type {kind!r} in a signature; known types: "
                        f"{', '.join(COLUMN_TYPES)}."
                    )
                specs.append(ColSpec(kind, item.get("name"), bool(item.get("required", True))))
        return cls(tuple(specs))

    def __str__(self) -> str:
        return ", ".join(str(s) for s in self.inputs)


@dataclass(frozen=True)
class ModelSignature:
    """Inputs, outputs and inference parameters of a model."""

    inputs: Schema | None = None
    outputs: Schema | None = None
    params: tuple[ParamSpec, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """MLflow's form: each part a JSON string (or None)."""
        return {
            "inputs": self.inputs.to_json() if self.inputs is not None else None,
            "outputs": self.outputs.to_json() if self.outputs is not None else None,
            "params": json.dumps([p.to_dict() for p in self.params]) if self.params else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelSignature:
        params: tuple[ParamSpec, ...] = ()
        if data.get("params"):
            raw = data["params"]
            items = json.loads(raw) if isinstance(raw, str) else raw
            params = tuple(ParamSpec(p["name"], p["type"], p.get("default"),
                                     tuple(p["shape"]) if p.get("shape") else None)
                           for p in items)
        return cls(
            inputs=Schema.from_json(data["inputs"]) if data.get("inputs") else None,
            outputs=Schema.from_json(data["outputs"]) if data.get("outputs") else None,
            params=params,
        )


# -- inference ---------------------------------------------------------------------------


def infer_signature(model_input: Any = None, model_output: Any = None,
                    params: Mapping[str, Any] | None = None) -> ModelSignature:
    """The signature that fits an input example, its predictions and parameters."""
    return ModelSignature(
        inputs=infer_schema(model_input) if model_input is not None else None,
        outputs=infer_schema(model_output) if model_output is not None else None,
        params=tuple(_param_spec(k, v) for k, v in (params or {}).items()),
    )


def infer_schema(data: Any) -> Schema:
    """A column schema for tables (DataFrame, records, dict of columns), tensors otherwise."""
    import numpy as np
    import pandas as pd

    data = _to_numpy_if_tensor(data)
    if isinstance(data, pd.Series):
        return Schema((ColSpec(_column_type(data, str(data.name)),),))
    if isinstance(data, dict) and data and all(_is_array(v) for v in data.values()) and \
            len({np.asarray(v).shape for v in data.values()}) > 1:
        return Schema(tuple(_tensor_spec(np.asarray(v), str(k)) for k, v in data.items()))
    if isinstance(data, (dict, list)) and not isinstance(data, np.ndarray):
        data = as_table_or_array(data)
    if isinstance(data, pd.DataFrame):
        return Schema(tuple(ColSpec(_column_type(data[c], str(c)), str(c)) for c in data.columns))
    if isinstance(data, np.ndarray):
        if _is_object(data.dtype):
            return Schema((ColSpec(_column_type(pd.Series(data.ravel()), "output")),))
        return Schema((_tensor_spec(data),))
    raise InvalidParameter(
        f"Cannot infer a signature from {type(data).__name__}; pass a pandas DataFrame, a "
        "numpy array, a list of records or a dict of columns, or pass signature=None."
    )


def _tensor_spec(arr: Any, name: str | None = None) -> TensorSpec:
    shape = (-1, *arr.shape[1:]) if arr.ndim else ()
    return TensorSpec(str(arr.dtype), tuple(int(d) for d in shape), name)


def _column_type(column: Any, name: str) -> str:
    import numpy as np
    import pandas as pd

    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _column_type(pd.Series(np.asarray(column.astype(dtype.categories.dtype))), name)
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "long" if np.dtype(getattr(dtype, "numpy_dtype", dtype)).itemsize > 4 \
            else "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "float" if np.dtype(getattr(dtype, "numpy_dtype", dtype)).itemsize <= 4 \
            else "double"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    values = [v for v in column.tolist() if v is not None and not _is_nan(v)]
    kinds = {_value_type(v) for v in values}
    if len(kinds) == 1:
        return kinds.pop()
    if not kinds:
        return "string"
    if kinds <= {"long", "double"}:
        return "double"
    raise InvalidParameter(
        f"Column {name!r} mixes values of types {sorted(kinds)}; give it one type, or pass "
        "signature=None to log the model without a signature."
    )


def _value_type(value: Any) -> str:
    import datetime

    import numpy as np

    if isinstance(value, (bool, np.bool_)):
        return "boolean"
    if isinstance(value, (int, np.integer)):
        return "long"
    if isinstance(value, (float, np.floating)):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (bytes, bytearray)):
        return "binary"
    if isinstance(value, (datetime.datetime, datetime.date, np.datetime64)):
        return "datetime"
    return type(value).__name__


def _param_spec(name: str, value: Any) -> ParamSpec:
    if isinstance(value, (list, tuple)):
        kinds = {_value_type(v) for v in value}
        if len(kinds) != 1 or next(iter(kinds)) not in COLUMN_TYPES:
            raise InvalidParameter(f"Parameter {name!r}: a list parameter holds one simple type.")
        return ParamSpec(name, kinds.pop(), list(value), (-1,))
    kind = _value_type(value)
    if kind not in COLUMN_TYPES:
        raise InvalidParameter(
            f"Parameter {name!r} has a {type(value).__name__} default; parameters are bool, "
            "int, float, str, bytes, datetime, or lists of one of these."
        )
    return ParamSpec(name, kind, value)


# -- input conversion --------------------------------------------------------------------


def array_columns(schema: Schema | None) -> tuple[list[str], str] | None:
    """``(names, dtype)`` for a schema of named columns all ``double`` (or all ``float``):
    a 2-D array of that dtype then holds the table, columns in the schema's order."""
    if schema is None or not schema.inputs or schema.is_tensor or not schema.has_names:
        return None
    kinds = {s.type for s in schema.inputs if isinstance(s, ColSpec)}
    if len(kinds) != 1 or not kinds <= {"double", "float"}:
        return None
    return [str(n) for n in schema.names], COLUMN_TYPES[kinds.pop()]


def as_table_or_array(data: Any) -> Any:
    """A DataFrame for records and dicts of columns, an array for lists; else unchanged."""
    import numpy as np
    import pandas as pd

    data = _to_numpy_if_tensor(data)
    if isinstance(data, pd.Series):
        return data.to_frame()
    if isinstance(data, Mapping):
        if not data:
            raise SignatureError("The model input is an empty dict; pass at least one column.")
        if all(not _is_array(v) for v in data.values()):
            return pd.DataFrame({k: [v] for k, v in data.items()})
        try:
            return pd.DataFrame({k: v if isinstance(v, np.ndarray) and v.ndim == 1 else list(v)
                                 if _is_array(v) else v for k, v in data.items()})
        except ValueError as exc:
            raise SignatureError(f"The columns of the input dict do not line up: {exc}") from exc
    if isinstance(data, (list, tuple)):
        if not data:
            raise SignatureError("The model input is an empty list; pass at least one row.")
        if all(isinstance(row, Mapping) for row in data):
            return pd.DataFrame.from_records(list(data))
        try:
            return np.asarray(data)
        except ValueError as exc:
            raise SignatureError(f"The input rows have different lengths: {exc}") from exc
    return data


def _is_array(value: Any) -> bool:
    return isinstance(value, (list, tuple)) or (hasattr(value, "__array__") and \
        getattr(value, "ndim", 1) > 0)


def _to_numpy_if_tensor(data: Any) -> Any:
    module = type(data).__module__
    if module.startswith("torch") and hasattr(data, "detach"):
        return data.detach().cpu().numpy()
    if module.startswith(("tensorflow", "keras")) and hasattr(data, "numpy"):
        return data.numpy()
    return data


def _is_object(dtype: Any) -> bool:
    return getattr(dtype, "kind", None) == "O"


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and value != value


def enforce_input(data: Any, schema: Schema | None) -> Any:
    """``data`` converted to fit ``schema``; SignatureError when it cannot fit."""
    data = as_table_or_array(data)
    if schema is None or not schema.inputs:
        return data
    if schema.is_tensor:
        return _enforce_tensors(data, schema)
    return _enforce_columns(data, schema)


def _enforce_columns(data: Any, schema: Schema) -> Any:
    import numpy as np
    import pandas as pd

    specs = [s for s in schema.inputs if isinstance(s, ColSpec)]
    expected = ", ".join(str(s) for s in specs)
    if isinstance(data, np.ndarray):
        if data.ndim == 1 and len(specs) > 1 and data.shape[0] == len(specs):
            data = data.reshape(1, -1)
        if data.ndim != 2 or data.shape[1] != len(specs):
            raise SignatureError(
                f"The model expects a table with columns {expected}, but got an array of shape "
                f"{data.shape}. Pass a DataFrame, records or a dict of columns."
            )
        names = [s.name if s.name is not None else i for i, s in enumerate(specs)]
        data = pd.DataFrame(data, columns=names)
    if not isinstance(data, pd.DataFrame):
        raise SignatureError(
            f"The model expects a table with columns {expected}, not {type(data).__name__}."
        )
    if not schema.has_names:
        if data.shape[1] != len(specs):
            raise SignatureError(
                f"The model expects {len(specs)} column(s) ({expected}), got {data.shape[1]}."
            )
        out = data.copy()
        for i, spec in enumerate(specs):
            out.isetitem(i, _convert_column(out.iloc[:, i], spec, f"column {i}"))
        return out
    present = {str(c): c for c in data.columns}
    missing = [s for s in specs if s.name not in present and s.required]
    if missing:
        listed = ", ".join(repr(s.name) for s in missing)
        raise SignatureError(
            f"The model input is missing column(s) {listed}. Expected columns: {expected}; "
            f"got: {', '.join(map(str, data.columns)) or 'none'}."
        )
    columns = {}
    unchanged = list(data.columns) == [s.name for s in specs]
    for spec in specs:
        if spec.name in present:
            given = data[present[spec.name]]
            columns[spec.name] = converted = _convert_column(given, spec,
                                                             f"column {spec.name!r}")
            unchanged = unchanged and converted is given
    if unchanged:
        return data  # every column fits as it is, in the signature's order
    return pd.DataFrame(columns, index=data.index)


def _convert_column(column: Any, spec: ColSpec, label: str) -> Any:
    import numpy as np
    import pandas as pd

    dtype = column.dtype
    want = spec.type

    def refuse(hint: str = "") -> SignatureError:
        return SignatureError(
            f"Input {label} has type {dtype} which cannot be converted to {want} "
            f"(the signature's type){'; ' + hint if hint else ''}."
        )

    if isinstance(dtype, pd.CategoricalDtype):
        column = column.astype(dtype.categories.dtype)
        dtype = column.dtype
    if want not in ("string", "binary") and want in COLUMN_TYPES and dtype == COLUMN_TYPES[want]:
        return column  # already the signature's type: the common case, kept cheap
    numeric_object = _is_object(dtype) and all(
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
        for v in column.tolist() if v is not None)
    if want in ("double", "float"):
        if pd.api.types.is_float_dtype(dtype) or pd.api.types.is_integer_dtype(dtype) \
                or numeric_object:
            return column.astype(COLUMN_TYPES[want])
        raise refuse("pass numbers")
    if want in ("long", "integer"):
        if pd.api.types.is_bool_dtype(dtype):
            raise refuse("pass whole numbers, not booleans")
        if pd.api.types.is_integer_dtype(dtype) or (_is_object(dtype) and numeric_object and all(
                isinstance(v, (int, np.integer)) for v in column.tolist())):
            values = column.astype("int64")
            if want == "integer" and len(values) and (values.min() < -2**31 or
                                                      values.max() >= 2**31):
                raise refuse("a value does not fit in 32 bits")
            return values.astype(COLUMN_TYPES[want])
        if pd.api.types.is_float_dtype(dtype):
            raise refuse("converting floats to integers could lose data; pass whole numbers "
                         "as integers")
        raise refuse("pass whole numbers")
    if want == "boolean":
        if pd.api.types.is_bool_dtype(dtype) or (_is_object(dtype) and all(
                isinstance(v, (bool, np.bool_)) for v in column.tolist())):
            return column.astype(bool)
        raise refuse("pass True or False")
    if want == "string":
        if pd.api.types.is_string_dtype(dtype) and all(
                isinstance(v, str) or v is None or _is_nan(v) for v in column.tolist()):
            return column
        raise refuse("pass text")
    if want == "binary":
        if _is_object(dtype) and all(isinstance(v, (bytes, bytearray)) for v in column.tolist()):
            return column
        raise refuse("pass bytes")
    if want == "datetime":
        if pd.api.types.is_datetime64_any_dtype(dtype):
            return column
        if pd.api.types.is_string_dtype(dtype):
            try:
                return pd.to_datetime(column)
            except (ValueError, TypeError) as exc:
                raise refuse(f"text that is not a date ({exc})") from exc
        raise refuse("pass dates")
    raise refuse()


def _enforce_tensors(data: Any, schema: Schema) -> Any:
    import numpy as np
    import pandas as pd

    specs = [s for s in schema.inputs if isinstance(s, TensorSpec)]
    if len(specs) > 1 or (specs[0].name is not None and isinstance(data, Mapping)):
        if isinstance(data, pd.DataFrame):
            data = {c: data[c].to_numpy() for c in data.columns}
        if not isinstance(data, Mapping):
            raise SignatureError(
                f"The model takes named tensors ({schema}); pass a dict of arrays."
            )
        missing = [s.name for s in specs if s.name not in data]
        if missing:
            raise SignatureError(
                f"The model input is missing tensor(s) {', '.join(map(repr, missing))}; "
                f"expected {schema}."
            )
        return {s.name: _convert_tensor(np.asarray(data[s.name]), s) for s in specs}
    if isinstance(data, pd.DataFrame):
        data = data.to_numpy()
    if not isinstance(data, np.ndarray):
        try:
            data = np.asarray(data)
        except (ValueError, TypeError) as exc:
            raise SignatureError(
                f"The model takes a tensor {specs[0]}; {type(data).__name__} cannot be converted "
                f"to an array ({exc})."
            ) from exc
    return _convert_tensor(data, specs[0])


def _convert_tensor(arr: Any, spec: TensorSpec) -> Any:
    import numpy as np

    label = f"tensor {spec.name!r}" if spec.name else "The input tensor"
    want = np.dtype(spec.dtype)
    if arr.dtype != want:
        ok = np.can_cast(arr.dtype, want, "safe") or (
            want.kind == "f" and arr.dtype.kind in "iuf") or (
            want.kind in "iu" and arr.dtype.kind in "iu" and _fits(arr, want))
        if _is_object(arr.dtype):
            try:
                arr = arr.astype(want)
                ok = True
            except (ValueError, TypeError):
                ok = False
        if not ok:
            raise SignatureError(
                f"{label} has dtype {arr.dtype} which cannot be converted to {want} "
                f"(the signature's dtype)."
            )
        arr = arr.astype(want)
    if len(arr.shape) != len(spec.shape) or any(
            s != -1 and s != d for s, d in zip(spec.shape, arr.shape, strict=True)):
        expected = "(" + ", ".join("any" if d == -1 else str(d) for d in spec.shape) + ")"
        raise SignatureError(
            f"{label} has shape {tuple(arr.shape)} but the signature expects {expected}; "
            "reshape the input to fit."
        )
    return arr


def _fits(arr: Any, dtype: Any) -> bool:
    import numpy as np

    if arr.size == 0:
        return True
    info = np.iinfo(dtype)
    return bool(arr.min() >= info.min and arr.max() <= info.max)


def enforce_params(params: Mapping[str, Any] | None,
                   specs: Sequence[ParamSpec]) -> dict[str, Any]:
    """Parameters with defaults filled in; unknown names and wrong types are refused."""
    given = dict(params or {})
    known = {p.name: p for p in specs}
    unknown = sorted(set(given) - set(known))
    if unknown:
        allowed = ", ".join(sorted(known)) or "none"
        raise SignatureError(
            f"Unknown inference parameter(s) {', '.join(map(repr, unknown))}; this model "
            f"accepts: {allowed}."
        )
    out = {}
    for name, spec in known.items():
        if name not in given:
            out[name] = spec.default
            continue
        value = given[name]
        values = value if spec.shape is not None else [value]
        if spec.shape is not None and not isinstance(value, (list, tuple)):
            raise SignatureError(f"Parameter {name!r} takes a list of {spec.type}.")
        for item in values:
            kind = _value_type(item)
            if kind != spec.type and not (spec.type in ("double", "float") and kind == "long"):
                raise SignatureError(
                    f"Parameter {name!r} has type {kind} which cannot be converted to "
                    f"{spec.type}."
                )
        if spec.type in ("double", "float"):
            value = [float(v) for v in value] if spec.shape is not None else float(value)
        out[name] = value
    return out
