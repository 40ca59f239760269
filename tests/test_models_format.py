"""The model folder contract: MLmodel reading, URIs (runs:/, models:/, local, remote
artifact stores), flavor plugins through entry points, and progress bars."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from jupyter_mltrack.errors import InvalidModel
from jupyter_mltrack.models import flavors as flavor_registry
from jupyter_mltrack.models import read_model_meta


@pytest.fixture
def regression() -> tuple[LinearRegression, np.ndarray]:
    X = np.arange(20, dtype=float).reshape(10, 2)
    return LinearRegression().fit(X, X @ np.array([1.0, 2.0]) + 3), X


def test_read_model_meta_reads_only_the_mlmodel(fluent, regression) -> None:
    model, X = regression
    with fluent.start_run():
        info = fluent.log_model(model, input_example=X[:2], metadata={"owner": "ana"})
    meta = read_model_meta(info.model_uri)
    assert meta.model_uuid == info.model_uuid and meta.metadata == {"owner": "ana"}
    assert meta.flavor == "sklearn" and meta.run_id == info.run_id
    assert meta.model_size_bytes and meta.model_size_bytes > 0


def test_locations_without_a_model_give_a_clear_error(fluent, regression,
                                                      tmp_path: Path) -> None:
    model, _ = regression
    with fluent.start_run() as run:
        fluent.log_text("not a model", "notes/readme.txt")
        fluent.log_model(model)
    for uri in (f"runs:/{run.info.run_id}/notes", f"runs:/{run.info.run_id}/missing",
                str(tmp_path)):
        with pytest.raises(InvalidModel, match="no MLmodel"):
            read_model_meta(uri)
        with pytest.raises(InvalidModel, match="no MLmodel"):
            fluent.load_model(uri)
    with pytest.raises(InvalidModel, match="not a folder"):
        fluent.load_model(tmp_path / "nowhere")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "MLmodel").write_text("flavors: {}\n")
    with pytest.raises(InvalidModel, match="names no flavors"):
        fluent.load_model(broken)
    (broken / "MLmodel").write_text("flavors: [unclosed\n")
    with pytest.raises(InvalidModel, match="not valid YAML"):
        read_model_meta(broken)


def test_logging_into_a_deleted_run_is_refused_before_writing(fluent, regression) -> None:
    from jupyter_mltrack.errors import InvalidState

    model, _ = regression
    with fluent.start_run() as run:
        pass
    fluent.delete_run(run.info.run_id)
    with pytest.raises(InvalidState, match="restore_run"):
        fluent.log_model(model, run_id=run.info.run_id)
    folder = Path(fluent.get_run(run.info.run_id).info.artifact_uri)
    assert not (folder / "model").exists()
    fluent.restore_run(run.info.run_id)
    info = fluent.log_model(model, run_id=run.info.run_id)  # a finished run takes models
    assert (folder / "model" / "MLmodel").is_file() and info.run_id == run.info.run_id


def test_models_uris_resolve_through_the_registry(fluent, regression) -> None:
    model, X = regression
    with fluent.start_run():
        info = fluent.log_model(model, input_example=X[:2])
    version = fluent.register_model(info.model_uri, "prices")
    fluent.set_alias("prices", "champion", version.version)
    fluent.transition_stage("prices", version.version, "Production")
    expected = model.predict(X)
    for uri in (f"models:/prices/{version.version}", "models:/prices@champion",
                "models:/prices/Production", "models:/prices/latest"):
        loaded = fluent.load_model(uri)
        np.testing.assert_allclose(loaded.predict(X), expected)
        assert read_model_meta(uri).model_uuid == info.model_uuid


FRESH_USES = {
    "load_model": "import jupyter_mltrack as m\n"
                  "print(m.load_model('models:/prices/1').metadata.model_uuid)",
    "read_model_meta": "from jupyter_mltrack.models import read_model_meta\n"
                       "print(read_model_meta('models:/prices@champion').model_uuid)",
    "download models:/": "from pathlib import Path\n"
                         "from jupyter_mltrack.artifacts import download_artifacts as get\n"
                         "print((Path(get('models:/prices/1')) / 'MLmodel').is_file())",
    "download runs:/": "from pathlib import Path\n"
                       "from jupyter_mltrack.artifacts import download_artifacts as get\n"
                       "print((Path(get('runs:/{run_id}/model')) / 'MLmodel').is_file())",
}


@pytest.mark.parametrize("use", sorted(FRESH_USES))
def test_registry_uris_resolve_in_a_fresh_interpreter(fluent, regression, tmp_path: Path,
                                                      use: str) -> None:
    """``import jupyter_mltrack`` loads neither the registry nor the tracking API; a
    ``models:/`` or ``runs:/`` URI still resolves in an interpreter that loaded nothing
    else (the module that resolves the scheme is imported when one is first met)."""
    model, X = regression
    with fluent.start_run():
        info = fluent.log_model(model, input_example=X[:2])
    fluent.register_model(info.model_uri, "prices")
    fluent.set_alias("prices", "champion", "1")
    expected = {"load_model": info.model_uuid, "read_model_meta": info.model_uuid}
    out = subprocess.run([sys.executable, "-c", FRESH_USES[use].format(run_id=info.run_id)],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == expected.get(use, "True"), out.stdout


def test_models_logged_to_a_remote_artifact_store_upload_and_download(fluent, regression,
                                                                      capsys) -> None:
    pytest.importorskip("fsspec")
    model, X = regression
    exp = fluent.create_experiment("remote", artifact_location="memory://mltrack-models/exp")
    with fluent.start_run(experiment_id=exp):
        info = fluent.log_model(model, input_example=X[:2], progress=True)
    assert "Uploading model" in capsys.readouterr().err
    import fsspec

    fs = fsspec.filesystem("memory")
    listed = {p.rsplit("/", 1)[-1] for p in fs.find("/mltrack-models/exp")}
    assert {"MLmodel", "model.skops", "requirements.txt", "input_example.json"} <= listed
    assert read_model_meta(info.model_uri).model_uuid == info.model_uuid
    loaded = fluent.load_model(info.model_uri, progress=True)
    err = capsys.readouterr().err
    assert "Downloading model" in err and "100%" in err
    np.testing.assert_allclose(loaded.predict(X), model.predict(X))


def test_progress_bars_for_saving_and_loading(fluent, regression, tmp_path: Path, capsys,
                                              monkeypatch) -> None:
    model, _ = regression
    fluent.save_model(model, tmp_path / "m", progress=True)
    err = capsys.readouterr().err
    assert "Saving model" in err and err.rstrip().endswith("done")
    fluent.load_model(tmp_path / "m", progress=True)
    assert "Loading model" in capsys.readouterr().err
    # small models show nothing by default; a threshold of 0 bytes makes every load "large"
    fluent.load_model(tmp_path / "m")
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("MLTRACK_PROGRESS_MIN_BYTES", "0")
    fluent.load_model(tmp_path / "m")
    assert "Loading model" in capsys.readouterr().err


def test_builtin_flavors_are_entry_points() -> None:
    from importlib.metadata import entry_points

    found = {ep.name: ep.value for ep in entry_points(group=flavor_registry.ENTRY_POINT_GROUP)}
    assert found == flavor_registry.BUILTINS


def test_builtins_register_without_package_metadata(monkeypatch) -> None:
    import importlib.metadata

    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group=None: [])
    monkeypatch.setattr(flavor_registry, "_flavors", {})
    monkeypatch.setattr(flavor_registry, "_loaded", False)
    names = {f.name for f in flavor_registry.all_flavors()}
    assert names == set(flavor_registry.BUILTINS)


PLUGIN = textwrap.dedent('''
    """A third-party flavor for Counter objects."""
    import collections, json


    class CounterFlavor:
        name = "counter"
        priority = 50

        def can_save(self, model):
            return isinstance(model, collections.Counter)

        def save(self, model, ctx):
            (ctx.path / "counts.json").write_text(json.dumps(model))
            return {"data": "counts.json"}

        def load(self, ctx):
            return collections.Counter(json.loads((ctx.path / ctx.conf["data"]).read_text()))

        def predict(self, native, data, params):
            return [native.get(str(k), 0) for k in data]

        def modules(self, model, conf):
            return []


    flavor = CounterFlavor()
''')


def test_third_party_flavor_through_the_entry_point_group(tmp_path: Path) -> None:
    site = tmp_path / "site"
    dist = site / "mltrack_counter_flavor-1.0.dist-info"
    dist.mkdir(parents=True)
    (site / "mltrack_counter_flavor.py").write_text(PLUGIN)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mltrack-counter-flavor\n"
                                   "Version: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[jupyter_mltrack.flavors]\ncounter = mltrack_counter_flavor:flavor\n")
    script = textwrap.dedent(f"""
        import collections, json
        import jupyter_mltrack as mltrack
        meta = mltrack.save_model(collections.Counter(a=2, b=5), {str(tmp_path / 'm')!r})
        model = mltrack.load_model({str(tmp_path / 'm')!r})
        print(json.dumps([meta.flavor, model.predict(["a", "b", "c"])]))
    """)
    import os

    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == ["counter", [2, 5, 0]]
    mlmodel = (tmp_path / "m" / "MLmodel").read_text()
    assert "counter:" in mlmodel and "python_function:" in mlmodel


def test_a_folder_with_mlflow_field_names_loads(tmp_path: Path, regression) -> None:
    """A scikit-learn model folder as MLflow writes it (cloudpickle, ``pickled_model``)."""
    import cloudpickle
    import yaml

    import jupyter_mltrack as mltrack

    model, X = regression
    folder = tmp_path / "mlflow_model"
    folder.mkdir()
    (folder / "model.pkl").write_bytes(cloudpickle.dumps(model))
    (folder / "MLmodel").write_text(yaml.safe_dump({
        "artifact_path": "model",
        "flavors": {
            "python_function": {"env": {"virtualenv": "python_env.yaml"},
                                "loader_module": "mlflow.sklearn", "model_path": "model.pkl",
                                "predict_fn": "predict", "python_version": "3.11.7"},
            "sklearn": {"code": None, "pickled_model": "model.pkl",
                        "serialization_format": "cloudpickle", "sklearn_version": "1.5.0"},
        },
        "mlflow_version": "3.17.2",
        "model_uuid": "0" * 32,
        "signature": {"inputs": '[{"type": "tensor", "tensor-spec": '
                                '{"dtype": "float64", "shape": [-1, 2]}}]',
                      "outputs": None, "params": None},
        "utc_time_created": "2025-01-01 00:00:00.000000",
    }))
    with pytest.raises(mltrack.UntrustedModel):
        mltrack.load_model(folder)
    loaded = mltrack.load_model(folder, trust=True)
    assert loaded.metadata.model_uuid == "0" * 32
    np.testing.assert_allclose(loaded.predict(X), model.predict(X))


def test_a_writer_that_comes_second_keeps_the_first_model(tmp_path: Path) -> None:
    from jupyter_mltrack.errors import AlreadyExists
    from jupyter_mltrack.models.save import _move_into_place

    target = tmp_path / "model"
    target.mkdir()
    (target / "MLmodel").write_text("first")
    staging = tmp_path / ".model.abc.tmp"
    staging.mkdir()
    (staging / "MLmodel").write_text("second")
    with pytest.raises(AlreadyExists, match="another writer"):
        _move_into_place(staging, target)
    assert (target / "MLmodel").read_text() == "first"
