"""Plain Python models: PythonModel subclasses with artifacts, and any callable."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jupyter_mltrack.errors import InvalidParameter, SignatureError, UntrustedModel
from jupyter_mltrack.models import PythonModel, infer_signature
from tests.models_fresh import predict_fresh

MODELS = textwrap.dedent("""
    import json
    import jupyter_mltrack as mltrack

    class Lookup(mltrack.PythonModel):
        def __init__(self, column):
            self.column = column
            self.table = None

        def load_context(self, context):
            with open(context.artifacts["table"]) as handle:
                self.table = json.load(handle)

        def predict(self, context, model_input, params=None):
            scale = (params or {}).get("scale", 1)
            return [self.table.get(str(v), -1) * scale for v in model_input[self.column]]

    class NoContext(mltrack.PythonModel):
        def predict(self, model_input, params=None):
            return model_input.sum(axis=1)
""")


@pytest.fixture
def models_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    code = tmp_path / "code"
    code.mkdir()
    (code / "mltrack_test_pymodels.py").write_text(MODELS)
    monkeypatch.syspath_prepend(str(code))
    import importlib
    import sys

    yield importlib.import_module("mltrack_test_pymodels")
    sys.modules.pop("mltrack_test_pymodels", None)


def test_python_model_with_artifacts_in_fresh_process(fluent, models_module,
                                                      tmp_path: Path) -> None:
    table = tmp_path / "table.json"
    table.write_text('{"a": 1, "b": 2}')
    model = models_module.Lookup("key")
    example = pd.DataFrame({"key": ["a", "b", "z"]})
    with fluent.start_run():
        info = fluent.log_model(
            model, input_example=example, artifacts={"table": table},
            code_paths=[tmp_path / "code" / "mltrack_test_pymodels.py"],
            signature=infer_signature(example, [1, 2, -1], params={"scale": 1}))
    assert info.flavors["python_function"]["artifacts"] == {"table": "artifacts/table/table.json"}
    assert set(info.flavors) == {"python_function"}
    table.unlink()  # the model carries its own copy
    result = predict_fresh(tmp_path / "fresh", info.model_uri, example,
                           tracking_uri=fluent.get_tracking_uri())
    assert result["flavor"] == "python_function"
    assert result["prediction"] == [1, 2, -1]
    loaded = fluent.load_model(info.model_uri)
    assert loaded.predict({"key": ["b"]}, params={"scale": 10}) == [20]
    with pytest.raises(SignatureError, match="'key'"):
        loaded.predict({"other": ["b"]})
    assert isinstance(fluent.load_native(info.model_uri), models_module.Lookup)


def test_predict_without_context_argument(fluent, models_module, tmp_path: Path) -> None:
    path = tmp_path / "nocontext"
    fluent.save_model(models_module.NoContext(), path,
                      code_paths=[tmp_path / "code" / "mltrack_test_pymodels.py"])
    out = fluent.load_model(path, trust=True).predict(np.array([[1, 2], [3, 4]]))
    np.testing.assert_array_equal(out, [3, 7])


def test_any_callable_and_the_trust_flag(fluent, tmp_path: Path) -> None:
    # defined as in a notebook cell: cloudpickle stores it by value
    namespace: dict[str, object] = {"__name__": "__main__", "np": np}
    exec("def double(data):\n    return np.asarray(data) * 2\n", namespace)  # noqa: S102 - a class/function as a notebook cell defines it
    path = tmp_path / "fn"
    meta = fluent.save_model(namespace["double"], path, input_example=np.array([[1.0, 2.0]]))
    assert meta.flavors["python_function"]["kind"] == "callable"
    # a pickle from outside the store: refused without the flag, in this process and another
    with pytest.raises(UntrustedModel, match="trust=True"):
        fluent.load_model(path)
    with pytest.raises(AssertionError, match="UntrustedModel"):
        predict_fresh(tmp_path / "fresh", str(path), np.array([[1.0, 2.0]]))
    result = predict_fresh(tmp_path / "fresh", str(path), np.array([[1.0, 2.0]]), trust=True)
    np.testing.assert_array_equal(result["prediction"], [[2.0, 4.0]])
    assert "cloudpickle==" in (path / "requirements.txt").read_text()


def test_notebook_function_requirements_come_from_the_modules_it_calls(fluent,
                                                                       tmp_path: Path) -> None:
    namespace: dict[str, object] = {"__name__": "__main__", "pd": pd, "np": np}
    exec("def score(data):\n    return pd.Series(np.asarray(data).sum(axis=1))\n", namespace)  # noqa: S102 - a class/function as a notebook cell defines it
    fluent.save_model(namespace["score"], tmp_path / "fn")
    lines = (tmp_path / "fn" / "requirements.txt").read_text().split()
    names = {line.split("==")[0] for line in lines}
    assert {"pandas", "numpy", "cloudpickle", "jupyter_mltrack"} <= names
    assert "scikit-learn" not in names


def test_objects_no_flavor_handles_are_refused(fluent, tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match="No model flavor"):
        fluent.save_model(42, tmp_path / "x")
    with pytest.raises(InvalidParameter, match="not a path"):
        fluent.save_model("model.pkl", tmp_path / "y")
    with pytest.raises(InvalidParameter, match="artifacts="):
        fluent.save_model(lambda d: d, tmp_path / "z", artifacts={"a": tmp_path})
    assert not list(tmp_path.iterdir())


def test_base_class_predict_must_be_overridden() -> None:
    with pytest.raises(NotImplementedError, match="must define predict"):
        PythonModel().predict(None, [1])
