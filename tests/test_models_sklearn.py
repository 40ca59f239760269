"""scikit-learn models: skops by default, pickle only on request, trust, fresh-process loads."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from jupyter_mltrack.errors import AlreadyExists, InvalidParameter, UntrustedModel
from tests.models_fresh import predict_fresh


@pytest.fixture
def data() -> tuple[pd.DataFrame, np.ndarray]:
    X, y = make_classification(n_samples=300, n_features=4, random_state=0)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    frame["color"] = np.where(X[:, 0] > 0, "red", "blue")
    return frame, y


@pytest.fixture
def pipeline(data: tuple[pd.DataFrame, np.ndarray]) -> Pipeline:
    frame, y = data
    pre = ColumnTransformer([("num", StandardScaler(), ["a", "b", "c", "d"]),
                             ("cat", OneHotEncoder(), ["color"])])
    return Pipeline([("pre", pre), ("clf", LogisticRegression())]).fit(frame, y)


def test_pipeline_round_trip_in_fresh_process(fluent, pipeline, data, tmp_path: Path) -> None:
    frame, _ = data
    with fluent.start_run() as run:
        info = fluent.log_model(pipeline, input_example=frame[:5])
    assert info.model_uri == f"runs:/{run.info.run_id}/model"
    result = predict_fresh(tmp_path / "fresh", info.model_uri, frame,
                           tracking_uri=fluent.get_tracking_uri())
    assert result["flavor"] == "sklearn"
    assert result["native"] == "sklearn.pipeline.Pipeline"
    np.testing.assert_array_equal(result["prediction"], pipeline.predict(frame))


def test_predict_accepts_frames_arrays_records_and_dicts(fluent, data) -> None:
    frame, y = data
    numeric = frame[["a", "b", "c", "d"]]
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(numeric, y)
    with fluent.start_run():
        info = fluent.log_model(model, input_example=numeric[:3])
    loaded = fluent.load_model(info.model_uri)
    expected = model.predict(numeric)
    np.testing.assert_array_equal(loaded.predict(numeric), expected)
    np.testing.assert_array_equal(loaded.predict(numeric.to_numpy()), expected)
    np.testing.assert_array_equal(loaded.predict(numeric.to_dict(orient="records")), expected)
    np.testing.assert_array_equal(loaded.predict(numeric.to_dict(orient="list")), expected)
    one = numeric.iloc[0].to_dict()
    np.testing.assert_array_equal(loaded.predict(one), expected[:1])
    # columns in another order are put back in the signature's order
    np.testing.assert_array_equal(loaded.predict(numeric[["d", "c", "b", "a"]]), expected)


def test_model_folder_layout_and_mlmodel_fields(fluent, pipeline, data) -> None:
    frame, _ = data
    with fluent.start_run() as run:
        fluent.log_model(pipeline, name="clf", input_example=frame[:2], metadata={"team": "x"})
    folder = Path(fluent.get_run(run.info.run_id).info.artifact_uri) / "clf"
    names = {p.name for p in folder.iterdir()}
    assert names == {"MLmodel", "model.skops", "requirements.txt", "python_env.yaml",
                     "conda.yaml", "input_example.json", "serving_input_example.json"}
    import yaml

    mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
    assert mlmodel["run_id"] == run.info.run_id
    assert mlmodel["artifact_path"] == "clf"
    assert mlmodel["metadata"] == {"team": "x"}
    assert len(mlmodel["model_uuid"]) == 32
    assert mlmodel["utc_time_created"][:2] == "20"
    assert mlmodel["flavors"]["sklearn"]["serialization_format"] == "skops"
    assert mlmodel["flavors"]["python_function"]["env"] == {"conda": "conda.yaml",
                                                            "virtualenv": "python_env.yaml"}
    assert mlmodel["saved_input_example_info"]["type"] == "dataframe"
    inputs = json.loads(mlmodel["signature"]["inputs"])
    assert [c["name"] for c in inputs] == ["a", "b", "c", "d", "color"]
    assert [c["type"] for c in inputs] == ["double"] * 4 + ["string"]
    outputs = json.loads(mlmodel["signature"]["outputs"])
    # one value per row of a table: a column, as MLflow infers it
    assert outputs == [{"type": "long", "required": True}]
    example = json.loads((folder / "input_example.json").read_text())
    assert example["columns"] == ["a", "b", "c", "d", "color"] and len(example["data"]) == 2
    serving = json.loads((folder / "serving_input_example.json").read_text())
    assert serving["dataframe_split"] == example
    env = yaml.safe_load((folder / "python_env.yaml").read_text())
    assert env["dependencies"] == ["-r requirements.txt"]
    assert env["python"].count(".") == 2


def test_requirements_are_pinned_to_what_the_model_needs(fluent, pipeline) -> None:
    from importlib.metadata import version

    with fluent.start_run() as run:
        fluent.log_model(pipeline)
    folder = Path(fluent.get_run(run.info.run_id).info.artifact_uri) / "model"
    lines = (folder / "requirements.txt").read_text().split()
    assert f"scikit-learn=={version('scikit-learn')}" in lines
    assert f"skops=={version('skops')}" in lines
    assert f"numpy=={version('numpy')}" in lines
    assert all("==" in line for line in lines)
    # not the whole environment: frameworks the model does not use stay out, and so does
    # this package: MLflow's sklearn loader reads the folder, and platforms that build its
    # environment from requirements.txt install every line from PyPI
    names = {line.split("==")[0].lower().replace("_", "-") for line in lines}
    assert not names & {"xgboost", "lightgbm", "torch", "pytest", "sqlalchemy", "keras",
                        "jupyter-mltrack"}
    conda = (folder / "conda.yaml").read_text()
    assert "scikit-learn==" in conda and "mltrack==" not in conda


def test_requirements_given_by_the_user_are_kept(fluent, pipeline, tmp_path: Path) -> None:
    req = tmp_path / "req.txt"
    req.write_text("# pinned by hand\nscikit-learn==1.5.0\n\nnumpy<3\n")
    meta = fluent.save_model(pipeline, tmp_path / "m", requirements=str(req))
    assert meta.flavor == "sklearn"
    assert (tmp_path / "m" / "requirements.txt").read_text().split() == [
        "scikit-learn==1.5.0", "numpy<3"]
    with pytest.raises(InvalidParameter, match="is not a file"):
        fluent.save_model(pipeline, tmp_path / "m2", requirements="nope.txt")
    assert not (tmp_path / "m2").exists()


def test_pickle_only_when_asked_and_trust_needed_outside_the_store(fluent, pipeline, data,
                                                                   tmp_path: Path) -> None:
    frame, _ = data
    path = tmp_path / "pickled"
    fluent.save_model(pipeline, path, serialization_format="cloudpickle")
    assert (path / "model.pkl").is_file() and not (path / "model.skops").exists()
    with pytest.raises(UntrustedModel, match="trust=True"):
        fluent.load_model(path)
    with pytest.raises(UntrustedModel):
        fluent.load_native(str(path))
    loaded = fluent.load_model(path, trust=True)
    np.testing.assert_array_equal(loaded.predict(frame), pipeline.predict(frame))
    # the same pickled model logged in a run is inside the store: no flag needed
    with fluent.start_run():
        info = fluent.log_model(pipeline, serialization_format="cloudpickle")
    np.testing.assert_array_equal(fluent.load_model(info.model_uri).predict(frame),
                                  pipeline.predict(frame))


def test_skops_model_with_foreign_types_needs_trust_outside_store(fluent, tmp_path: Path,
                                                                  monkeypatch) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "scalers.py").write_text(textwrap.dedent("""
        from sklearn.base import BaseEstimator, TransformerMixin

        class Doubler(TransformerMixin, BaseEstimator):
            def fit(self, X, y=None):
                return self

            def transform(self, X):
                return X * 2
    """))
    monkeypatch.syspath_prepend(str(code))
    import scalers  # type: ignore[import-not-found]

    X, y = make_classification(n_samples=100, n_features=5, random_state=1)
    model = make_pipeline(scalers.Doubler(), LogisticRegression()).fit(X, y)
    path = tmp_path / "custom"
    meta = fluent.save_model(model, path, code_paths=[code / "scalers.py"], input_example=X[:2])
    assert meta.flavors["sklearn"]["skops_trusted_types"] == ["scalers.Doubler"]
    assert (path / "code" / "scalers.py").is_file()
    with pytest.raises(UntrustedModel, match="ships Python code"):
        fluent.load_model(path)
    # without shipped code, skops itself refuses the type it does not know
    with pytest.warns(UserWarning, match="scalers"):
        fluent.save_model(model, tmp_path / "no_code")
    with pytest.raises(UntrustedModel, match=r"scalers\.Doubler"):
        fluent.load_model(tmp_path / "no_code")
    # requirements: the shipped module is not a package to install
    assert "scalers" not in (path / "requirements.txt").read_text()
    result = predict_fresh(tmp_path / "fresh", str(path), X, trust=True)
    np.testing.assert_array_equal(result["prediction"], model.predict(X))


def test_class_defined_in_main_is_refused_with_advice(fluent, tmp_path: Path) -> None:
    from sklearn.base import BaseEstimator, TransformerMixin

    namespace: dict[str, object] = {"__name__": "__main__", "BaseEstimator": BaseEstimator,
                                    "TransformerMixin": TransformerMixin}
    cell = textwrap.dedent("""
        class Local(TransformerMixin, BaseEstimator):
            def fit(self, X, y=None):
                return self
            def transform(self, X):
                return X
    """)
    exec(cell, namespace)  # noqa: S102 - a class as a notebook cell defines it
    X, y = make_classification(n_samples=50, n_features=5, random_state=2)
    model = make_pipeline(namespace["Local"](), LogisticRegression()).fit(X, y)
    with pytest.raises(InvalidParameter, match="code_paths"):
        fluent.save_model(model, tmp_path / "m")
    assert not (tmp_path / "m").exists()
    assert not list(tmp_path.glob(".m.*"))


def test_unknown_serialization_format_and_options(fluent, pipeline, tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match="serialization_format"):
        fluent.save_model(pipeline, tmp_path / "a", serialization_format="joblib")
    with pytest.raises(InvalidParameter, match="Unknown option"):
        fluent.save_model(pipeline, tmp_path / "b", model_format="json")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_logging_twice_under_one_name_is_refused_and_keeps_the_first(fluent, pipeline,
                                                                     data) -> None:
    frame, _ = data
    with fluent.start_run() as run:
        first = fluent.log_model(pipeline, input_example=frame[:1])
        with pytest.raises(AlreadyExists, match="another name"):
            fluent.log_model(LogisticRegression().fit(frame[["a"]], frame["a"] > 0))
        second = fluent.log_model(pipeline, name="other")
    from jupyter_mltrack.models import read_model_meta

    assert read_model_meta(first.model_uri).model_uuid == first.model_uuid
    tag = json.loads(fluent.get_run(run.info.run_id).data.tags["mltrack.loggedModels"])
    assert [m["artifact_path"] for m in tag] == ["model", "other"]
    assert tag[1]["model_uuid"] == second.model_uuid
    assert tag[0]["flavors"] == ["sklearn", "python_function"]


def test_save_model_refuses_a_non_empty_folder(fluent, pipeline, tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.mkdir()
    (target / "keep.txt").write_text("precious")
    with pytest.raises(AlreadyExists, match="new folder"):
        fluent.save_model(pipeline, target)
    assert (target / "keep.txt").read_text() == "precious"
    empty = tmp_path / "empty"
    empty.mkdir()
    fluent.save_model(pipeline, empty)
    assert (empty / "MLmodel").is_file()


def test_load_native_returns_the_estimator(fluent, pipeline, data) -> None:
    frame, _ = data
    with fluent.start_run():
        info = fluent.log_model(pipeline, input_example=frame[:3])
    native = fluent.load_native(info.model_uri)
    assert isinstance(native, Pipeline)
    np.testing.assert_allclose(native.predict_proba(frame), pipeline.predict_proba(frame))
    loaded = fluent.load_model(info.model_uri)
    assert loaded.metadata.model_uuid == info.model_uuid
    assert loaded.signature == info.signature
    pd.testing.assert_frame_equal(loaded.input_example, frame[:3])


def test_numeric_frames_predict_the_same_by_the_fast_path(tmp_path) -> None:
    """A frame whose columns are the model's feature names, in order and all floats, is
    passed as an array (scikit-learn's per-call frame checks cost more than one row);
    any other frame takes scikit-learn's own path. Same predictions, no warning."""
    import warnings

    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from jupyter_mltrack.models import load_model, save_model

    X, y = load_iris(return_X_y=True, as_frame=True)
    native = LogisticRegression(max_iter=500).fit(X, y)
    save_model(native, tmp_path / "m", input_example=X.head(3))
    model = load_model(tmp_path / "m")
    expected = native.predict(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert (model.predict(X) == expected).all()
        shuffled = X[list(reversed(X.columns))]  # reordered by the signature
        assert (model.predict(shuffled) == expected).all()
        assert (model.predict(X.astype("float32")) == native.predict(X.astype("float32"))).all()


def test_an_array_of_the_signature_columns_predicts_without_a_frame(tmp_path) -> None:
    """A model fitted on a frame of float columns takes a float array of them as it is
    (``array_input`` says so; the scoring server relies on it to skip pandas); an array
    of another dtype or width, or a model fitted without names, takes the frame path."""
    import warnings

    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from jupyter_mltrack.errors import SignatureError
    from jupyter_mltrack.models import infer_signature, load_model, save_model

    X, y = load_iris(return_X_y=True, as_frame=True)
    native = LogisticRegression(max_iter=500).fit(X, y)
    save_model(native, tmp_path / "m", input_example=X.head(3))
    model = load_model(tmp_path / "m")
    assert model.array_input == (list(X.columns), "float64")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert (model.predict(X.to_numpy()) == native.predict(X)).all()
        whole = X.round().astype("int64")
        assert (model.predict(whole.to_numpy()) == native.predict(whole.astype(float))).all()
    with pytest.raises(SignatureError, match="shape"):
        model.predict(X.to_numpy()[:, :3])

    unnamed = LogisticRegression(max_iter=500).fit(X.to_numpy(), y)
    save_model(unnamed, tmp_path / "u", signature=infer_signature(X.head(3)))
    assert load_model(tmp_path / "u").array_input is None
