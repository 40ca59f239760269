"""PyTorch models: state dict + importable class (shipped with code_paths), or TorchScript."""

from __future__ import annotations

import importlib
import textwrap
from pathlib import Path

import numpy as np
import pytest

from jupyter_mltrack.errors import InvalidParameter, UntrustedModel
from tests.models_fresh import predict_fresh

torch = pytest.importorskip("torch")

NETS = textwrap.dedent("""
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self, n_in, hidden=8):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, 2))

        def forward(self, x):
            return torch.softmax(self.body(x), dim=1)
""")


@pytest.fixture
def nets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    code = tmp_path / "code"
    code.mkdir()
    (code / "mltrack_test_nets.py").write_text(NETS)
    monkeypatch.syspath_prepend(str(code))
    module = importlib.import_module("mltrack_test_nets")
    yield module
    import sys

    sys.modules.pop("mltrack_test_nets", None)


def _data() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(20, 4)).astype("float32")


def test_state_dict_round_trip_in_fresh_process(fluent, nets, tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = nets.Net(4, hidden=6)
    X = _data()
    with fluent.start_run():
        info = fluent.log_model(net, input_example=X[:3], init_args=[4],
                                init_kwargs={"hidden": 6},
                                code_paths=[tmp_path / "code" / "mltrack_test_nets.py"])
    conf = info.flavors["pytorch"]
    assert conf["model_format"] == "state_dict"
    assert conf["module_class"] == "mltrack_test_nets:Net"
    assert conf["init_args"] == [4] and conf["init_kwargs"] == {"hidden": 6}
    with torch.no_grad():
        expected = net(torch.from_numpy(X)).numpy()
    # float64 input is converted to the signature's float32 silently
    result = predict_fresh(tmp_path / "fresh", info.model_uri, X.astype("float64"),
                           tracking_uri=fluent.get_tracking_uri())
    assert result["native"] == "mltrack_test_nets.Net"
    np.testing.assert_allclose(result["prediction"], expected, rtol=1e-6)
    folder = Path(fluent.get_run(info.run_id).info.artifact_uri) / "model"
    requirements = (folder / "requirements.txt").read_text()
    assert f"torch=={torch.__version__.split('+')[0]}" in requirements
    assert "mltrack_test_nets" not in requirements  # shipped as code, not installed


def test_shipped_code_from_outside_the_store_needs_trust(fluent, nets, tmp_path: Path) -> None:
    net = nets.Net(4)
    path = tmp_path / "net"
    fluent.save_model(net, path, init_args=[4],
                      code_paths=[tmp_path / "code" / "mltrack_test_nets.py"])
    with pytest.raises(UntrustedModel, match="ships Python code"):
        fluent.load_model(path)
    loaded = fluent.load_native(path, trust=True)
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(),
                                                 net.state_dict().values(), strict=True))


@pytest.mark.filterwarnings("ignore:.*deprecated:DeprecationWarning")
def test_torchscript_loads_without_the_class(fluent, nets, tmp_path: Path) -> None:
    torch.manual_seed(1)
    scripted = torch.jit.script(nets.Net(4))
    path = tmp_path / "scripted"
    meta = fluent.save_model(scripted, path, input_example=_data()[:2])
    assert meta.flavors["pytorch"]["model_format"] == "torchscript"
    X = _data()
    with torch.no_grad():
        expected = scripted(torch.from_numpy(X)).numpy()
    # the fresh process cannot import mltrack_test_nets: TorchScript does not need it
    result = predict_fresh(tmp_path / "fresh", str(path), X)
    np.testing.assert_allclose(result["prediction"], expected, rtol=1e-6)


def test_bad_constructor_arguments_and_notebook_classes_are_refused(fluent, nets,
                                                                    tmp_path: Path) -> None:
    net = nets.Net(4, hidden=6)
    with pytest.raises(InvalidParameter, match="does not match the model's weights"):
        fluent.save_model(net, tmp_path / "a", init_args=[4])  # hidden defaults to 8
    with pytest.raises(InvalidParameter, match="init_args"):
        fluent.save_model(net, tmp_path / "b")  # n_in missing
    namespace: dict[str, object] = {"__name__": "__main__", "torch": torch}
    exec("class Local(torch.nn.Module):\n    def forward(self, x):\n        return x\n",  # noqa: S102 - a class/function as a notebook cell defines it
         namespace)
    with pytest.raises(InvalidParameter, match=r"torch\.jit\.script"):
        fluent.save_model(namespace["Local"](), tmp_path / "c")
    assert not any(p.name != "code" for p in tmp_path.iterdir() if p.name != "code")
