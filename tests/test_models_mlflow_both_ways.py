"""Model folders both ways: what this package writes loads in real MLflow (without this
package) and predicts the same; what MLflow writes loads here; and folders written by
earlier versions of this package still load here."""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.mlflow_env import run_mlflow

os.environ.setdefault("KERAS_BACKEND", "torch")

# Keras' torch backend trips numpy 2's copy-keyword deprecation inside Keras itself.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:keras")

OLD_FOLDERS = Path(__file__).parent / "data" / "models_0_1"

#: MLflow refuses every serialized model format (its own skops too) without this consent.
MLFLOW_ENV = {"MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "true", "KERAS_BACKEND": "torch"}

NETS = textwrap.dedent("""
    import torch


    class TwoLayer(torch.nn.Module):
        def __init__(self, n_in, n_out):
            super().__init__()
            self.hidden = torch.nn.Linear(n_in, 4)
            self.out = torch.nn.Linear(4, n_out)

        def forward(self, x):
            return self.out(torch.relu(self.hidden(x)))
""")


@dataclass
class Case:
    """A model saved here, the input to predict on, and how MLflow calls the raw model."""

    flavor: str
    model: Any
    data: Any  # a DataFrame or an array
    expected: np.ndarray  # the original object's predictions
    native_call: str  # Python expression of `native` and `X` run in MLflow's environment
    options: dict[str, Any]


def _x(n: int = 30, dtype: str = "float64") -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n, 3)).astype(dtype)


def _y(X: np.ndarray) -> np.ndarray:
    return (X[:, 0] + X[:, 1] > 0).astype(int)


def _frame(X: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(X, columns=["a", "b", "c"])


def _sklearn_skops() -> Case:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = _frame(_x())
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, _y(X.to_numpy()))
    return Case("sklearn", model, X, model.predict(X), "native.predict(X)", {})


def _sklearn_cloudpickle() -> Case:
    from sklearn.ensemble import RandomForestRegressor

    X = _x()
    model = RandomForestRegressor(n_estimators=5, random_state=0).fit(X, X[:, 0])
    return Case("sklearn", model, X, model.predict(X), "native.predict(X)",
                {"serialization_format": "cloudpickle"})


def _xgboost_classifier() -> Case:
    import xgboost

    X = _x()
    model = xgboost.XGBClassifier(n_estimators=5, max_depth=2).fit(X, _y(X))
    return Case("xgboost", model, X, model.predict(X), "native.predict(X)", {})


def _xgboost_booster() -> Case:
    import xgboost

    X = _x()
    model = xgboost.train({"max_depth": 2}, xgboost.DMatrix(X, label=X[:, 0]), 5)
    return Case("xgboost", model, X, model.predict(xgboost.DMatrix(X)),
                "native.predict(__import__('xgboost').DMatrix(X))", {})


def _lightgbm_regressor() -> Case:
    import lightgbm

    X = _frame(_x())
    model = lightgbm.LGBMRegressor(n_estimators=5, min_child_samples=2, verbose=-1)
    model.fit(X, X["a"])
    return Case("lightgbm", model, X, model.predict(X), "native.predict(X)", {})


def _lightgbm_booster() -> Case:
    import lightgbm

    X = _x()
    model = lightgbm.train({"verbose": -1, "min_data_in_leaf": 2},
                           lightgbm.Dataset(X, label=X[:, 0]), 5)
    return Case("lightgbm", model, X, model.predict(X), "native.predict(X)", {})


TORCH_CALL = "native(__import__('torch').from_numpy(X)).detach().numpy()"


def _pytorch_module(code: Path) -> Case:
    import torch

    torch.manual_seed(0)
    from mltrack_test_nets import TwoLayer  # type: ignore[import-not-found]

    model = TwoLayer(3, 2).eval()
    X = _x(dtype="float32")
    expected = model(torch.from_numpy(X)).detach().numpy()
    return Case("pytorch", model, X, expected, TORCH_CALL,
                {"init_args": [3, 2], "code_paths": [code / "mltrack_test_nets.py"]})


def _pytorch_script() -> Case:
    import torch

    torch.manual_seed(0)
    model = torch.jit.script(torch.nn.Linear(3, 2).eval())
    X = _x(dtype="float32")
    return Case("pytorch", model, X, model(torch.from_numpy(X)).detach().numpy(), TORCH_CALL,
                {})


def _keras() -> Case:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu"),
                              keras.layers.Dense(2)])
    X = _x(dtype="float32")
    return Case("keras", model, X, model.predict(X, verbose=0), "native.predict(X, verbose=0)",
                {})


CASES: dict[str, Callable[..., Case]] = {
    "sklearn_skops": _sklearn_skops,
    "sklearn_cloudpickle": _sklearn_cloudpickle,
    "xgboost_classifier": _xgboost_classifier,
    "xgboost_booster": _xgboost_booster,
    "lightgbm_regressor": _lightgbm_regressor,
    "lightgbm_booster": _lightgbm_booster,
    "pytorch_module": _pytorch_module,
    "pytorch_torchscript": _pytorch_script,
    "keras_sequential": _keras,
}

#: Loads each folder of a manifest with mlflow.pyfunc and mlflow.<flavor>; writes what each
#: predicted (or the error) next to it. Runs in MLflow's environment, without this package.
LOAD_IN_MLFLOW = textwrap.dedent("""
    import importlib, json, sys, traceback
    import numpy as np, pandas as pd
    import mlflow.pyfunc

    for case in json.load(open(sys.argv[1])):
        folder = case["folder"]
        X = np.load(folder + ".input.npy")
        data = pd.DataFrame(X, columns=case["columns"]) if case["columns"] else X
        out = {}
        # what `mlflow models` would pip install into the model's environment
        with open(mlflow.pyfunc.get_model_dependencies(folder, format="pip")) as handle:
            out["dependencies"] = handle.read().split()
        for how in ("pyfunc", "native"):
            try:
                if how == "pyfunc":
                    got = mlflow.pyfunc.load_model(folder).predict(data)
                else:
                    flavor = importlib.import_module("mlflow." + case["flavor"])
                    native = flavor.load_model(folder)
                    got = eval(case["native_call"], {"native": native, "X": data})
                np.save(f"{folder}.{how}.npy", np.asarray(got))
                out[how] = "ok"
            except Exception:
                out[how] = traceback.format_exc()
        out["imported_here"] = "jupyter_mltrack" in sys.modules
        json.dump(out, open(folder + ".mlflow.json", "w"))
""")


@pytest.fixture(scope="module")
def nets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A module file holding a torch.nn.Module subclass, importable in this process."""
    code = tmp_path_factory.mktemp("nets")
    (code / "mltrack_test_nets.py").write_text(NETS)
    sys.path.insert(0, str(code))
    try:
        yield code
    finally:
        sys.path.remove(str(code))
        sys.modules.pop("mltrack_test_nets", None)


@pytest.fixture(scope="module")
def saved_here(tmp_path_factory: pytest.TempPathFactory, nets: Path
               ) -> dict[str, tuple[Case, Path]]:
    """Every case saved by this package, then loaded by real MLflow in its own environment."""
    import jupyter_mltrack as mltrack

    root = tmp_path_factory.mktemp("ours")
    saved: dict[str, tuple[Case, Path]] = {}
    manifest = []
    for name, make in CASES.items():
        case = make(nets) if name == "pytorch_module" else make()
        folder = root / name
        mltrack.save_model(case.model, folder, input_example=case.data[:2], progress=False,
                           **case.options)
        data = case.data
        np.save(f"{folder}.input.npy", np.asarray(data))
        manifest.append({"folder": str(folder), "flavor": case.flavor,
                         "native_call": case.native_call,
                         "columns": list(data.columns) if hasattr(data, "columns") else None})
        saved[name] = (case, folder)
    (root / "manifest.json").write_text(json.dumps(manifest))
    run_mlflow(LOAD_IN_MLFLOW, str(root / "manifest.json"), cwd=root, env=MLFLOW_ENV,
               timeout=600)
    return saved


@pytest.mark.parametrize("name", list(CASES))
def test_a_folder_written_here_loads_in_mlflow_and_predicts_the_same(
        saved_here: dict[str, tuple[Case, Path]], name: str) -> None:
    import jupyter_mltrack as mltrack

    case, folder = saved_here[name]
    result = json.loads(Path(f"{folder}.mlflow.json").read_text())
    assert result["imported_here"] is False
    # MLflow's environment for the folder needs only what is on PyPI, not this package
    assert result["dependencies"], result
    assert not [d for d in result["dependencies"] if "mltrack" in d.lower()]
    assert result["pyfunc"] == "ok", result["pyfunc"]
    assert result["native"] == "ok", result["native"]
    ours = np.asarray(mltrack.load_model(folder, trust=True).predict(case.data))
    np.testing.assert_allclose(ours, case.expected, rtol=1e-6)
    for how in ("pyfunc", "native"):
        got = np.load(f"{folder}.{how}.npy")
        np.testing.assert_allclose(got.reshape(ours.shape), ours, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", list(CASES))
def test_a_folder_written_here_uses_mlflow_names(saved_here: dict[str, tuple[Case, Path]],
                                                 name: str) -> None:
    """MLflow's loader modules and environment files; a column signature for tables."""
    case, folder = saved_here[name]
    mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
    pyfunc = mlmodel["flavors"]["python_function"]
    assert pyfunc["loader_module"] == f"mlflow.{case.flavor}"
    assert pyfunc["env"] == {"conda": "conda.yaml", "virtualenv": "python_env.yaml"}
    conda = yaml.safe_load((folder / "conda.yaml").read_text())
    pip = next(d["pip"] for d in conda["dependencies"] if isinstance(d, dict))
    assert pip == (folder / "requirements.txt").read_text().split()
    assert any(str(d).startswith("python=") for d in conda["dependencies"])
    if isinstance(case.data, pd.DataFrame) and case.flavor == "sklearn":
        outputs = json.loads(mlmodel["signature"]["outputs"])
        assert outputs == [{"type": "long", "required": True}]


@pytest.mark.parametrize("name", list(CASES))
def test_a_folder_mlflow_loads_itself_does_not_ask_for_this_package(
        saved_here: dict[str, tuple[Case, Path]], name: str) -> None:
    """Platforms that build the environment from the folder's files (``mlflow models
    serve`` with virtualenv or conda, SageMaker, Azure ML) install each requirement from
    PyPI: a folder that MLflow's own loader reads must not name jupyter_mltrack there."""
    from packaging.requirements import Requirement

    case, folder = saved_here[name]
    lines = (folder / "requirements.txt").read_text().split()
    names = {Requirement(line).name.lower().replace("_", "-") for line in lines}
    assert "jupyter-mltrack" not in names
    framework = {"sklearn": "scikit-learn", "pytorch": "torch"}.get(case.flavor, case.flavor)
    assert framework in names
    conda = yaml.safe_load((folder / "conda.yaml").read_text())
    pip = next(d["pip"] for d in conda["dependencies"] if isinstance(d, dict))
    assert not [line for line in pip if "mltrack" in line.lower()]
    python_env = yaml.safe_load((folder / "python_env.yaml").read_text())
    assert python_env["dependencies"] == ["-r requirements.txt"]


PYMODELS = textwrap.dedent("""
    import jupyter_mltrack as mltrack


    class AddN(mltrack.PythonModel):
        def __init__(self, n):
            self.n = n

        def predict(self, context, model_input, params=None):
            return model_input * 2 + self.n
""")

LOAD_PYFUNC_IN_MLFLOW = textwrap.dedent("""
    import sys
    import numpy as np
    import mlflow.pyfunc

    folder = sys.argv[1]
    try:
        model = mlflow.pyfunc.load_model(folder)
    except Exception as exc:
        print(type(exc).__name__)
    else:
        np.save(folder + ".pyfunc.npy", np.asarray(model.predict(np.load(folder + ".input.npy"))))
        print("loaded")
""")


def test_a_python_model_loads_in_mlflow_where_this_package_is_installed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``loader_module: jupyter_mltrack.models`` works, with MLflow's consent to unpickle."""
    import jupyter_mltrack as mltrack

    code = tmp_path / "code"
    code.mkdir()
    (code / "mltrack_test_pymodels.py").write_text(PYMODELS)
    monkeypatch.syspath_prepend(str(code))
    from mltrack_test_pymodels import AddN  # type: ignore[import-not-found]

    folder = tmp_path / "addn"
    X = _x()
    try:
        mltrack.save_model(AddN(3), folder, input_example=X[:2], progress=False,
                           code_paths=[code / "mltrack_test_pymodels.py"])
    finally:
        sys.modules.pop("mltrack_test_pymodels", None)
    np.save(f"{folder}.input.npy", X)
    installed = {"PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    refused = run_mlflow(LOAD_PYFUNC_IN_MLFLOW, str(folder), cwd=tmp_path, env=installed)
    assert refused.stdout.split()[-1] == "UntrustedModel"
    loaded = run_mlflow(LOAD_PYFUNC_IN_MLFLOW, str(folder), cwd=tmp_path,
                        env={**installed, **MLFLOW_ENV})
    assert loaded.stdout.split()[-1] == "loaded"
    np.testing.assert_array_equal(np.load(f"{folder}.pyfunc.npy"), X * 2 + 3)


# -- MLflow writes, this package loads ------------------------------------------------------

SAVE_IN_MLFLOW = textwrap.dedent("""
    import os, sys
    import numpy as np, pandas as pd
    import mlflow

    root = sys.argv[1]
    X = np.random.default_rng(0).normal(size=(30, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    X32 = X.astype("float32")

    def save(name, module, model, data, expected, example=True, **kw):
        # explicit requirements: inferring them costs MLflow a process per model
        module.save_model(model, os.path.join(root, name),
                          input_example=data[:2] if example else None,
                          pip_requirements=["numpy"], **kw)
        np.save(os.path.join(root, name + ".input.npy"), np.asarray(data))
        np.save(os.path.join(root, name + ".expected.npy"), np.asarray(expected))

    from sklearn.linear_model import LogisticRegression
    sk = LogisticRegression().fit(frame, y)
    save("sklearn_skops", mlflow.sklearn, sk, frame, sk.predict(frame))
    save("sklearn_cloudpickle", mlflow.sklearn, sk, frame, sk.predict(frame),
         serialization_format="cloudpickle")

    import xgboost
    xgb = xgboost.XGBClassifier(n_estimators=5, max_depth=2).fit(X, y)
    save("xgboost_classifier", mlflow.xgboost, xgb, X, xgb.predict(X))

    import lightgbm
    lgb = lightgbm.LGBMRegressor(n_estimators=5, min_child_samples=2, verbose=-1).fit(X, X[:, 0])
    save("lightgbm_regressor", mlflow.lightgbm, lgb, X, lgb.predict(X))
    save("lightgbm_booster", mlflow.lightgbm, lgb.booster_, X, lgb.booster_.predict(X))

    import torch
    torch.manual_seed(0)
    lin = torch.nn.Linear(3, 2).eval()
    out = lin(torch.from_numpy(X32)).detach().numpy()
    save("pytorch_module", mlflow.pytorch, lin, X32, out, serialization_format="pickle")
    save("pytorch_torchscript", mlflow.pytorch, torch.jit.script(lin), X32, out,
         serialization_format="pickle")
    save("pytorch_export", mlflow.pytorch, lin, X32, out)  # MLflow's default: torch.export

    import keras
    keras.utils.set_random_seed(0)
    km = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    save("keras_sequential", mlflow.keras, km, X32, km.predict(X32, verbose=0),
         example=False)  # MLflow's Keras flavor fails to save with an input example
""")

MLFLOW_CASES = ["sklearn_skops", "sklearn_cloudpickle", "xgboost_classifier",
                "lightgbm_regressor", "lightgbm_booster", "pytorch_module",
                "pytorch_torchscript", "pytorch_export", "keras_sequential"]


@pytest.fixture(scope="module")
def saved_by_mlflow(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mlflow")
    run_mlflow(SAVE_IN_MLFLOW, str(root), cwd=root, env=MLFLOW_ENV, timeout=600)
    return root


@pytest.mark.parametrize("name", MLFLOW_CASES)
def test_a_folder_written_by_mlflow_loads_here_and_predicts_the_same(
        saved_by_mlflow: Path, name: str) -> None:
    import jupyter_mltrack as mltrack

    folder = saved_by_mlflow / name
    X = np.load(f"{folder}.input.npy")
    data = _frame(X) if name.startswith("sklearn") else X
    got = np.asarray(mltrack.load_model(folder, trust=True).predict(data))
    expected = np.load(f"{folder}.expected.npy")
    np.testing.assert_allclose(got.reshape(expected.shape), expected, rtol=1e-6)
    if name in ("sklearn_skops", "xgboost_classifier", "lightgbm_regressor",
                "lightgbm_booster", "pytorch_torchscript",
                "keras_sequential"):  # formats that run no pickle
        assert np.asarray(mltrack.load_model(folder).predict(data)).shape == got.shape
    else:
        with pytest.raises(mltrack.UntrustedModel):
            mltrack.load_model(folder)


# -- folders written by earlier versions of this package ------------------------------------

OLD_CASES = ["sklearn_skops", "xgboost_classifier", "lightgbm_regressor", "lightgbm_booster",
             "pytorch_state_dict", "pytorch_torchscript", "keras_sequential"]


@pytest.mark.parametrize("name", OLD_CASES)
def test_a_folder_written_by_version_0_1_still_loads(tmp_path: Path, name: str) -> None:
    """Old field names (skops_model, module:Class, loader_module jupyter_mltrack.models)
    and old file layouts load, and without trust= as before."""
    import jupyter_mltrack as mltrack

    folder = tmp_path / name
    shutil.copytree(OLD_FOLDERS / name, folder)
    mlmodel = (folder / "MLmodel").read_text()
    assert "loader_module: jupyter_mltrack.models" in mlmodel
    X = np.load(OLD_FOLDERS / f"{name}.input.npy")
    got = np.asarray(mltrack.load_model(folder).predict(X))
    expected = np.load(OLD_FOLDERS / f"{name}.expected.npy")
    np.testing.assert_allclose(got.reshape(expected.shape), expected, rtol=1e-6)
