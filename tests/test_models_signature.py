"""Signatures: inference from examples, MLflow's JSON form, and enforcement at predict time."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from jupyter_mltrack.errors import SignatureError
from jupyter_mltrack.models import ColSpec, ModelSignature, Schema, TensorSpec, infer_signature
from jupyter_mltrack.models.signature import enforce_input, enforce_params


def test_infer_from_a_frame_gives_named_typed_columns() -> None:
    frame = pd.DataFrame({
        "i": np.array([1, 2], dtype="int64"), "i32": np.array([1, 2], dtype="int32"),
        "f": [0.5, 1.5], "f32": np.array([0.5, 1.5], dtype="float32"), "b": [True, False],
        "s": ["x", "y"], "t": pd.to_datetime(["2024-01-01", "2024-01-02"]),
    })
    sig = infer_signature(frame, np.array([0, 1]))
    assert [(c.name, c.type) for c in sig.inputs.inputs] == [
        ("i", "long"), ("i32", "integer"), ("f", "double"), ("f32", "float"),
        ("b", "boolean"), ("s", "string"), ("t", "datetime")]
    assert sig.outputs.inputs == (TensorSpec("int64", (-1,)),)


def test_infer_from_records_dicts_and_arrays() -> None:
    records = [{"x": 1, "y": "a"}, {"x": 2, "y": "b"}]
    assert [str(c) for c in infer_signature(records).inputs.inputs] == ["x (long)", "y (string)"]
    columns = {"x": [1.0, 2.0], "y": [3, 4]}
    assert [str(c) for c in infer_signature(columns).inputs.inputs] == ["x (double)", "y (long)"]
    arr = np.zeros((5, 3, 2), dtype="float32")
    assert infer_signature(arr).inputs.inputs == (TensorSpec("float32", (-1, 3, 2)),)
    labels = np.array(["cat", "dog"], dtype=object)
    assert infer_signature(None, labels).outputs.inputs == (ColSpec("string"),)


def test_json_form_matches_mlflow_and_round_trips() -> None:
    sig = ModelSignature(Schema((ColSpec("double", "a"), ColSpec("string", "b", False))),
                         Schema((TensorSpec("float32", (-1, 2)),)))
    data = sig.to_dict()
    assert json.loads(data["inputs"]) == [{"type": "double", "name": "a", "required": True},
                                          {"type": "string", "name": "b", "required": False}]
    assert json.loads(data["outputs"]) == [
        {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 2]}}]
    assert data["params"] is None
    assert ModelSignature.from_dict(data) == sig


def test_missing_column_names_the_column_and_expected_types() -> None:
    schema = Schema((ColSpec("double", "age"), ColSpec("string", "city")))
    with pytest.raises(SignatureError) as err:
        enforce_input(pd.DataFrame({"age": [1.0]}), schema)
    assert "'city'" in str(err.value) and "age (double), city (string)" in str(err.value)


def test_optional_column_may_be_missing() -> None:
    schema = Schema((ColSpec("double", "age"), ColSpec("string", "city", required=False)))
    out = enforce_input({"age": [1.0]}, schema)
    assert list(out.columns) == ["age"]


def test_unconvertible_type_names_column_and_both_types() -> None:
    schema = Schema((ColSpec("double", "age"),))
    with pytest.raises(SignatureError) as err:
        enforce_input(pd.DataFrame({"age": ["old"]}), schema)
    message = str(err.value)
    assert "'age'" in message and "double" in message and ("object" in message or "str" in message)
    with pytest.raises(SignatureError, match=r"'n'.*float64.*long"):
        enforce_input(pd.DataFrame({"n": [1.5]}), Schema((ColSpec("long", "n"),)))
    with pytest.raises(SignatureError, match="32 bits"):
        enforce_input({"n": [2**40]}, Schema((ColSpec("integer", "n"),)))


def test_safe_conversions_happen_silently() -> None:
    schema = Schema((ColSpec("double", "a"), ColSpec("long", "b"), ColSpec("float", "c")))
    out = enforce_input(pd.DataFrame({"c": [1], "b": np.array([2], dtype="int8"), "a": [3],
                                      "extra": ["dropped"]}), schema)
    assert list(out.columns) == ["a", "b", "c"]
    assert [str(t) for t in out.dtypes] == ["float64", "int64", "float32"]
    # JSON records give Python ints where doubles are expected
    out = enforce_input([{"a": 1, "b": 2, "c": 3}], schema)
    assert out["a"].dtype == np.float64
    # datetime text is parsed
    when = enforce_input({"t": ["2024-05-01"]}, Schema((ColSpec("datetime", "t"),)))
    assert str(when["t"].dtype).startswith("datetime64")


def test_tensor_enforcement_casts_and_checks_shape() -> None:
    schema = Schema((TensorSpec("float32", (-1, 3)),))
    out = enforce_input(np.ones((4, 3), dtype="float64"), schema)
    assert out.dtype == np.float32 and out.shape == (4, 3)
    out = enforce_input([[1, 2, 3]], schema)
    assert out.dtype == np.float32
    with pytest.raises(SignatureError, match=r"shape \(4, 2\).*\(any, 3\)"):
        enforce_input(np.ones((4, 2)), schema)
    with pytest.raises(SignatureError, match=r"dtype .*cannot be converted to float32"):
        enforce_input(np.array([["a", "b", "c"]], dtype=object), schema)
    ints = Schema((TensorSpec("int32", (-1,)),))
    with pytest.raises(SignatureError, match="float64 which cannot be converted to int32"):
        enforce_input(np.array([1.5]), ints)


def test_params_defaults_types_and_unknown_names() -> None:
    sig = infer_signature(params={"k": 5, "scale": 1.0, "tags": ["a"]})
    assert enforce_params(None, sig.params) == {"k": 5, "scale": 1.0, "tags": ["a"]}
    assert enforce_params({"scale": 2}, sig.params)["scale"] == 2.0
    with pytest.raises(SignatureError, match=r"'nope'.*accepts: k, scale, tags"):
        enforce_params({"nope": 1}, sig.params)
    with pytest.raises(SignatureError, match="'k' has type string"):
        enforce_params({"k": "five"}, sig.params)


def test_mixed_column_types_cannot_be_inferred() -> None:
    from jupyter_mltrack.errors import InvalidParameter

    with pytest.raises(InvalidParameter, match="mixes values"):
        infer_signature(pd.DataFrame({"x": [1, "a"]}, dtype=object))
