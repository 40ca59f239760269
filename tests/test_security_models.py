"""Model loading is only as trusted as the bytes: the store trusts what log_model wrote
(checked by digest), not a URI scheme; registering copies outside folders in; paths
named in MLmodel stay in the model folder; malformed or unreachable model URIs fail
with the project's own errors."""

from __future__ import annotations

import pickle
import socket
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from jupyter_mltrack import errors
from jupyter_mltrack.errors import InvalidModel, InvalidURI, MLTrackError, UntrustedModel
from jupyter_mltrack.models import read_model_meta

X = np.zeros((3, 2))


def _model(constant: int) -> Any:
    from sklearn.dummy import DummyClassifier

    return DummyClassifier(strategy="constant", constant=constant).fit(np.zeros((4, 2)),
                                                                     [0, 1, 1, 1])


def _pickled(mltrack: Any, folder: Path, constant: int) -> Path:
    """A model folder whose sklearn model is stored with pickle (needs trust to load)."""
    mltrack.save_model(_model(constant), folder, serialization_format="cloudpickle",
                       progress=False)
    return folder


def _swap_pickle(folder: Path, constant: int) -> None:
    """Replace the pickle in a model folder by another model's (an attacker's swap)."""
    (folder / "model.pkl").write_bytes(pickle.dumps(_model(constant)))


def _edit_mlmodel(folder: Path, flavor: str, **fields: Any) -> None:
    file = folder / "MLmodel"
    data = yaml.safe_load(file.read_text())
    data["flavors"][flavor].update(fields)
    file.write_text(yaml.safe_dump(data))


def _artifacts(mltrack: Any, run_id: str) -> Path:
    return Path(mltrack.get_run(run_id).info.artifact_uri)


# -- item 1: trust follows the bytes, not the scheme --------------------------------------


def test_logged_models_still_load_without_trust_by_run_and_by_registry(fluent) -> None:
    with fluent.start_run():
        info = fluent.log_model(_model(1), serialization_format="cloudpickle", progress=False)
    assert fluent.load_model(info.model_uri).predict(X).tolist() == [1, 1, 1]
    fluent.register_model(info.model_uri, "kept")
    assert fluent.load_model("models:/kept/1").predict(X).tolist() == [1, 1, 1]


def test_registering_an_outside_folder_needs_trust_to_load(fluent, tmp_path: Path) -> None:
    folder = _pickled(fluent, tmp_path / "outside", 1)
    fluent.register_model(str(folder), "m")
    with pytest.raises(UntrustedModel, match=r"models:/m/1.*trust=True"):
        fluent.load_model("models:/m/1")
    assert fluent.load_model("models:/m/1", trust=True).predict(X).tolist() == [1, 1, 1]


def test_swapping_an_outside_folder_after_registering_changes_nothing(fluent,
                                                                      tmp_path: Path) -> None:
    # a safe (skops) model is registered; the folder is then swapped for a pickle
    folder = tmp_path / "outside"
    fluent.save_model(_model(1), folder, progress=False)
    version = fluent.register_model(str(folder), "m")
    (folder / "model.skops").unlink()
    _edit_mlmodel(folder, "sklearn", serialization_format="cloudpickle",
                  pickled_model="model.pkl")
    _swap_pickle(folder, 0)
    assert not version.source.startswith(str(folder.resolve()))
    assert version.tags["mltrack.model.origin"] == str(folder.resolve())
    assert fluent.load_model("models:/m/1").predict(X).tolist() == [1, 1, 1]


def test_registering_a_folder_with_a_link_out_of_it_is_refused(fluent, tmp_path: Path) -> None:
    from jupyter_mltrack.errors import RegisteredModelNotFound

    folder = _pickled(fluent, tmp_path / "outside", 1)
    secret = tmp_path / "secret.txt"
    secret.write_text("not part of the model")
    (folder / "notes.txt").symlink_to(secret)
    with pytest.raises(InvalidModel, match="symbolic link"):
        fluent.register_model(str(folder), "m")
    with pytest.raises(RegisteredModelNotFound):
        fluent.get_registered_model("m")
    copies = Path(".mltrack/artifacts/registered-models")
    assert not copies.exists() or not any(copies.iterdir())


def test_trust_given_when_registering_pins_the_copied_files(fluent, tmp_path: Path) -> None:
    folder = _pickled(fluent, tmp_path / "outside", 1)
    version = fluent.register_model(str(folder), "m", trust=True)
    _swap_pickle(folder, 0)  # the outside folder no longer matters
    fluent.transition_stage("m", 1, "Production")
    fluent.set_alias("m", "champion", 1)
    for uri in ("models:/m/1", "models:/m/Production", "models:/m@champion", "models:/m/latest"):
        assert fluent.load_model(uri).predict(X).tolist() == [1, 1, 1]
    # registering the version again under another name keeps what vouches for it
    again = fluent.register_model("models:/m/1", "m2")
    assert again.source == version.source and again.tags == version.tags
    assert fluent.load_model("models:/m2/1").predict(X).tolist() == [1, 1, 1]
    # the pinned copy itself changed: trust given at registration no longer holds
    _swap_pickle(Path(version.source), 0)
    with pytest.raises(UntrustedModel, match="changed"):
        fluent.load_model("models:/m/1")
    # a reserved tag cannot be set by hand to grant trust
    with pytest.raises(errors.InvalidParameter, match=r"mltrack\.model\.digest"):
        fluent.set_model_version_tag("m", 1, "mltrack.model.digest", "sha256:0")


def test_a_pickle_logged_as_plain_artifacts_is_not_trusted(fluent, tmp_path: Path) -> None:
    folder = _pickled(fluent, tmp_path / "downloaded", 0)
    with fluent.start_run() as run:
        fluent.log_artifacts(str(folder), "model")
    uri = f"runs:/{run.info.run_id}/model"
    with pytest.raises(UntrustedModel, match="log_model"):
        fluent.load_model(uri)
    fluent.register_model(uri, "plain")
    with pytest.raises(UntrustedModel):
        fluent.load_model("models:/plain/1")
    assert fluent.load_model(uri, trust=True).predict(X).tolist() == [0, 0, 0]


def test_files_swapped_after_log_model_are_not_trusted(fluent) -> None:
    with fluent.start_run():
        info = fluent.log_model(_model(1), serialization_format="cloudpickle", progress=False)
    fluent.register_model(info.model_uri, "swapped")
    _swap_pickle(_artifacts(fluent, info.run_id) / "model", 0)
    for uri in (info.model_uri, "models:/swapped/1"):
        with pytest.raises(UntrustedModel, match="changed"):
            fluent.load_model(uri)


def test_the_same_rules_hold_on_a_remote_artifact_store(tmp_path: Path) -> None:
    fsspec = pytest.importorskip("fsspec")
    from jupyter_mltrack import Client, load_model, log_model, register_model, save_model

    root = f"memory://mltrack-security-{tmp_path.name}"
    client = Client(f"sqlite:///{tmp_path / 'mltrack.db'}", artifact_root=root)
    run_id = client.create_run(client.create_experiment("remote")).run_id
    info = log_model(_model(1), run_id=run_id, client=client,
                     serialization_format="cloudpickle", progress=False)
    assert load_model(info.model_uri, client=client).predict(X).tolist() == [1, 1, 1]
    # files swapped in the remote store
    fs = fsspec.filesystem("memory")
    [stored] = [p for p in fs.find(root.removeprefix("memory:/")) if p.endswith("model.pkl")]
    fs.pipe_file(stored, pickle.dumps(_model(0)))
    with pytest.raises(UntrustedModel, match="changed"):
        load_model(info.model_uri, client=client)
    # a folder registered from outside is copied to the remote root, trusted only if said so
    folder = tmp_path / "outside"
    save_model(_model(1), folder, serialization_format="cloudpickle", progress=False)
    untrusted = register_model(str(folder), "m", client=client)
    trusted = register_model(str(folder), "m", trust=True, client=client)
    assert untrusted.source.startswith(root) and trusted.source.startswith(root)
    _swap_pickle(folder, 0)
    with pytest.raises(UntrustedModel, match="outside the store"):
        load_model("models:/m/1", client=client)
    assert load_model("models:/m/2", client=client).predict(X).tolist() == [1, 1, 1]
    # a model behind a URL is copied too
    url = f"{root}-elsewhere/model"
    for file in (tmp_path / "outside").iterdir():
        fs.pipe_file(f"{url.removeprefix('memory:/')}/{file.name}", file.read_bytes())
    copied = register_model(url, "u", client=client)
    assert copied.tags == {"mltrack.model.origin": url} and copied.source.startswith(root)
    fs.rm(url.removeprefix("memory:/"), recursive=True)
    with pytest.raises(UntrustedModel, match="outside the store"):
        load_model("models:/u/1", client=client)
    assert load_model("models:/u/1", trust=True, client=client).predict(X).tolist() == [0, 0, 0]
    fs.rm(root.removeprefix("memory:/"), recursive=True)


@pytest.mark.parametrize("how", ["absolute", "parent", "symlink"])
def test_paths_in_mlmodel_stay_inside_the_model_folder(fluent, tmp_path: Path, how: str) -> None:
    folder = _pickled(fluent, tmp_path / "m", 1)
    elsewhere = _pickled(fluent, tmp_path / "elsewhere", 0) / "model.pkl"
    if how == "absolute":
        _edit_mlmodel(folder, "sklearn", pickled_model=str(elsewhere))
    elif how == "parent":
        _edit_mlmodel(folder, "sklearn", pickled_model="../elsewhere/model.pkl")
    else:
        (folder / "model.pkl").unlink()
        (folder / "model.pkl").symlink_to(elsewhere)
    with pytest.raises(InvalidModel, match="outside the model folder"):
        fluent.load_model(folder, trust=True)


def test_shipped_code_folder_named_in_mlmodel_stays_inside(fluent, tmp_path: Path) -> None:
    folder = _pickled(fluent, tmp_path / "m", 1)
    _edit_mlmodel(folder, "python_function", code="../../")
    with pytest.raises(InvalidModel, match="outside the model folder"):
        fluent.load_model(folder, trust=True)


MARKED = textwrap.dedent("""
    from pathlib import Path

    import torch

    Path(__file__).with_suffix(".imported").write_text("imported")


    class Net(torch.nn.Linear):
        pass
""")


def test_pytorch_module_class_is_checked_before_its_module_is_imported(
        fluent, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    code = tmp_path / "code"
    code.mkdir()
    (code / "mltrack_marked_net.py").write_text(MARKED)
    monkeypatch.syspath_prepend(str(code))
    folder = tmp_path / "net"
    fluent.save_model(torch.nn.Linear(2, 2), folder, init_args=[2, 2], progress=False)
    # torch's own classes load from an untrusted folder
    assert isinstance(fluent.load_native(folder), torch.nn.Linear)
    _edit_mlmodel(folder, "pytorch", module_class="mltrack_marked_net:Net")
    try:
        with pytest.raises(UntrustedModel, match="mltrack_marked_net"):
            fluent.load_native(folder)
        assert not (code / "mltrack_marked_net.imported").exists()
        assert "mltrack_marked_net" not in sys.modules
        assert type(fluent.load_native(folder, trust=True)).__name__ == "Net"
    finally:
        sys.modules.pop("mltrack_marked_net", None)


def test_xgboost_class_prefix_is_a_module_boundary(fluent, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    xgboost = pytest.importorskip("xgboost")
    code = tmp_path / "code"
    code.mkdir()
    (code / "xgboost_lookalike.py").write_text(
        "from pathlib import Path\n"
        "Path(__file__).with_suffix('.imported').write_text('imported')\n"
        "from xgboost import Booster\n")
    monkeypatch.syspath_prepend(str(code))
    folder = tmp_path / "booster"
    booster = xgboost.train({}, xgboost.DMatrix(np.zeros((4, 2)), label=[0, 1, 0, 1]), 1)
    fluent.save_model(booster, folder, progress=False)
    _edit_mlmodel(folder, "xgboost", model_class="xgboost_lookalike:Booster")
    try:
        with pytest.raises(InvalidModel, match="not from xgboost"):
            fluent.load_native(folder)
        assert not (code / "xgboost_lookalike.imported").exists()
    finally:
        sys.modules.pop("xgboost_lookalike", None)


# -- MLflow-loadable folders add no trust ---------------------------------------------------


def test_skops_types_listed_in_mlmodel_are_not_trusted_here(fluent, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    """MLflow hands skops the MLmodel's skops_trusted_types; this package asks the file."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    code = tmp_path / "code"
    code.mkdir()
    (code / "mltrack_doubler.py").write_text(
        "from sklearn.base import BaseEstimator, TransformerMixin\n"
        "class Doubler(TransformerMixin, BaseEstimator):\n"
        "    def fit(self, X, y=None):\n        return self\n"
        "    def transform(self, X):\n        return X * 2\n")
    monkeypatch.syspath_prepend(str(code))
    import mltrack_doubler  # type: ignore[import-not-found]

    try:
        model = make_pipeline(mltrack_doubler.Doubler(), LogisticRegression()).fit(
            np.eye(4)[:, :2], [0, 1, 1, 1])
        folder = tmp_path / "m"
        with pytest.warns(UserWarning, match="mltrack_doubler"):  # not shipped: fine here
            fluent.save_model(model, folder, progress=False)
        listed = yaml.safe_load((folder / "MLmodel").read_text())["flavors"]["sklearn"]
        assert listed["skops_trusted_types"] == ["mltrack_doubler.Doubler"]
        with pytest.raises(UntrustedModel, match=r"mltrack_doubler\.Doubler"):
            fluent.load_model(folder)
        assert fluent.load_model(folder, trust=True).predict(X).shape == (3,)
    finally:
        sys.modules.pop("mltrack_doubler", None)


def test_the_pickled_module_written_for_mlflow_is_never_unpickled_here(
        fluent, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    folder = tmp_path / "net"
    fluent.save_model(torch.nn.Linear(2, 2), folder, init_args=[2, 2], progress=False)
    conf = yaml.safe_load((folder / "MLmodel").read_text())["flavors"]["pytorch"]
    assert conf["model_data"] == "data" and (folder / "data" / "model.pth").is_file()
    # a pickle that would run code in place of MLflow's copy changes nothing here
    marker = tmp_path / "ran"
    (folder / "data" / "model.pth").write_bytes(pickle.dumps(_RunsCode(str(marker))))
    assert isinstance(fluent.load_native(folder), torch.nn.Linear)
    # and an MLmodel edited to send this package to that pickle needs trust
    _edit_mlmodel(folder, "pytorch", model_format=None)
    with pytest.raises(UntrustedModel, match="pickle"):
        fluent.load_native(folder)
    assert not marker.exists()


class _RunsCode:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self) -> Any:
        return (Path(self.marker).write_text, ("ran",))


# -- item 9: models:/ versions, remote model URIs -----------------------------------------


FULLWIDTH_ONE = "\uff11"  # a digit to str.isdigit(), and int() reads it as 1
ARABIC_THREE = "\u0663"


@pytest.mark.parametrize("ref", ["99999999999999999999999", "9223372036854775808",
                                 FULLWIDTH_ONE, "%EF%BC%91", ARABIC_THREE, "0", "+1", " 1"])
def test_models_uri_versions_are_ascii_positive_64_bit(ref: str) -> None:
    from jupyter_mltrack.uris import parse_models_uri

    with pytest.raises(InvalidURI, match="version"):
        parse_models_uri(f"models:/x/{ref}")


def test_models_uri_versions_through_the_registry(fluent) -> None:
    from jupyter_mltrack.errors import ModelVersionNotFound

    with fluent.start_run():
        info = fluent.log_model(_model(1), progress=False)
    fluent.register_model(info.model_uri, "x")
    for uri in ("models:/x/99999999999999999999999", f"models:/x/{FULLWIDTH_ONE}"):
        with pytest.raises(InvalidURI):
            fluent.load_model(uri)
    with pytest.raises(ModelVersionNotFound):
        fluent.load_model("models:/x/9223372036854775807")
    for version in (FULLWIDTH_ONE, 2**64, "99999999999999999999999"):
        with pytest.raises(errors.InvalidParameter, match="version"):
            fluent.get_model_version("x", version)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _unavailable(exc: BaseException, uri: str, hint: str) -> None:
    assert isinstance(exc, MLTrackError)
    assert type(exc).__name__ == "ArtifactUnavailable"
    assert uri in str(exc) and hint in str(exc)
    assert exc.__cause__ is not None and not isinstance(exc.__cause__, MLTrackError)


def test_s3_model_uri_without_credentials_says_so(fluent, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("s3fs")
    import s3fs

    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_closed_port()}")
    s3fs.S3FileSystem.clear_instance_cache()
    uri = "s3://mltrack-nowhere/model"
    for call in (fluent.load_model, read_model_meta):
        with pytest.raises(MLTrackError) as caught:
            call(uri)
        _unavailable(caught.value, uri, "credentials")
    s3fs.S3FileSystem.clear_instance_cache()


def test_http_model_uri_that_cannot_connect_says_so(fluent) -> None:
    pytest.importorskip("aiohttp")
    uri = f"http://127.0.0.1:{_closed_port()}/model"
    for call in (fluent.load_model, read_model_meta):
        with pytest.raises(MLTrackError) as caught:
            call(uri)
        _unavailable(caught.value, uri, "reachable")
    with pytest.raises(MLTrackError) as caught:
        fluent.register_model(uri, "remote")
    _unavailable(caught.value, uri, "reachable")


def test_model_digest_tags_cannot_be_set_by_hand(tmp_path: Path) -> None:
    """A user who could write the digest tag could vouch for a pickle they uploaded."""
    import jupyter_mltrack as mltrack
    from jupyter_mltrack.errors import InvalidParameter

    client = mltrack.Client(f"sqlite:///{tmp_path / 'store' / 'mltrack.db'}")
    run_id = client.create_run(client.get_or_create_experiment("e")).info.run_id
    for call in (lambda: client.set_tag(run_id, "mltrack.modelDigest.model", "sha256:x"),
                 lambda: client.set_tags(run_id, {"mltrack.modelDigest.m": "x"}),
                 lambda: client.log_batch(run_id, tags={"mltrack.modelDigest.m": "x"}),
                 lambda: client.delete_tag(run_id, "mltrack.modelDigest.m")):
        with pytest.raises(InvalidParameter, match="log_model only"):
            call()
    assert not any(k.startswith("mltrack.modelDigest") for k in client.get_run(run_id).data.tags)
