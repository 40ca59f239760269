"""Docker build contexts: their content, and their entrypoint run here (no engine runs here)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from click.testing import CliRunner

from jupyter_mltrack import Client
from jupyter_mltrack.cli import main
from jupyter_mltrack.serving.docker import entrypoint, serve_command
from tests.serving_helpers import fit_model, free_port, post, stop, training_frame, wait_ready


@pytest.fixture
def registered(tmp_path: Path) -> dict[str, str]:
    from jupyter_mltrack import registry as r
    from jupyter_mltrack.models import log_model

    uri = f"sqlite:///{tmp_path / '.mltrack' / 'mltrack.db'}"
    client = Client(uri)
    run = client.create_run(client.create_experiment("docker"))
    frame, _ = training_frame()
    log_model(fit_model(), run_id=run.run_id, client=client, input_example=frame[:3],
              progress=False)
    r.register_model(f"runs:/{run.run_id}/model", "churn", client=client)
    r.transition_stage("churn", 1, "Production", client=client)
    return {"uri": uri}


def cli(*args: str, env: dict[str, str] | None = None) -> object:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_dockerfile_writes_a_complete_build_context(registered, tmp_path: Path) -> None:
    out = tmp_path / "ctx"
    result = cli("--tracking-uri", registered["uri"], "models", "dockerfile", "-m",
                 "models:/churn/Production", "-o", str(out), "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["entrypoint"] == serve_command()
    assert set(info["files"]) == {".dockerignore", "Dockerfile", "model", "mltrack",
                                  "requirements.txt"}
    assert (out / "model" / "MLmodel").is_file() and (out / "model" / "model.skops").is_file()
    assert (out / "mltrack" / "jupyter_mltrack" / "serving" / "app.py").is_file()
    assert not list((out / "mltrack").rglob("__pycache__"))
    pyproject = (out / "mltrack" / "pyproject.toml").read_text()
    assert 'mltrack = "jupyter_mltrack.cli:main"' in pyproject
    assert 'sklearn = "jupyter_mltrack.models.flavors.sklearn:flavor"' in pyproject

    text = (out / "Dockerfile").read_text()
    lines = text.splitlines()
    assert lines[2].startswith("FROM python:3.")
    user = next(i for i, line in enumerate(lines) if line.startswith("USER "))
    assert lines[user] == "USER 10001" and "useradd" in lines[user - 1]
    assert user < next(i for i, line in enumerate(lines) if line.startswith("ENTRYPOINT"))
    assert "EXPOSE 8080" in lines
    assert any(line.startswith("HEALTHCHECK") for line in lines)
    assert "http://127.0.0.1:8080/ping" in text
    assert entrypoint(text) == ["mltrack", "models", "serve", "-m", "/opt/model", "--host",
                                "0.0.0.0", "--port", "8080"]  # noqa: S104

    requirements = (out / "requirements.txt").read_text().split()
    assert all("==" in line for line in requirements), requirements
    pins = dict(line.split("==") for line in requirements)
    assert pins["scikit-learn"] == metadata.version("scikit-learn")
    assert pins["uvicorn"] == metadata.version("uvicorn")
    assert pins["pandas"] == metadata.version("pandas")


def test_the_context_entrypoint_serves_its_model_folder(registered, tmp_path: Path) -> None:
    out = tmp_path / "ctx"
    assert cli("--tracking-uri", registered["uri"], "models", "dockerfile", "-m",
               "models:/churn/1", "-o", str(out)).exit_code == 0
    command = entrypoint((out / "Dockerfile").read_text())
    port = free_port()
    # The image's command, with the model where the context holds it, on a free loopback port.
    command = [str(out / "model") if a == "/opt/model" else a for a in command]
    command[command.index("--port") + 1] = str(port)
    command[command.index("--host") + 1] = "127.0.0.1"
    script = Path(sys.executable).with_name("mltrack")
    assert command[0] == "mltrack" and script.is_file()
    proc = subprocess.Popen([str(script), *command[1:]], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                            env={**os.environ, "MLTRACK_TRACKING_URI": ""})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc)
        frame, _ = training_frame(seed=2, rows=3)
        status, _, body = post(url, frame.to_csv(index=False).encode(), "text/csv")
        assert status == 200
        assert body == {"predictions": fit_model().predict(frame).tolist()}
    finally:
        stop(proc)


def test_a_pickled_model_needs_trust_and_the_image_then_says_so(tmp_path: Path) -> None:
    from jupyter_mltrack.models import save_model

    folder = tmp_path / "model"
    frame, _ = training_frame()
    save_model(fit_model(), folder, input_example=frame[:2], serialization_format="cloudpickle",
               progress=False)
    refused = cli("models", "dockerfile", "-m", str(folder), "-o", str(tmp_path / "a"))
    assert refused.exit_code == 1
    assert "--trust" in refused.output
    assert not (tmp_path / "a").exists()
    ok = cli("models", "dockerfile", "-m", str(folder), "-o", str(tmp_path / "b"), "--trust")
    assert ok.exit_code == 0, ok.output
    assert entrypoint((tmp_path / "b" / "Dockerfile").read_text())[-1] == "--trust"


def test_dockerfile_refuses_a_folder_that_is_not_empty(registered, tmp_path: Path) -> None:
    out = tmp_path / "ctx"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = cli("--tracking-uri", registered["uri"], "models", "dockerfile", "-m",
                 "models:/churn/1", "-o", str(out))
    assert result.exit_code == 1 and "not empty" in result.output
    assert (out / "keep.txt").read_text() == "mine"


def test_build_docker_without_any_engine_says_so(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    result = cli("models", "build-docker", "-m", str(tmp_path / "m"), "-t", "x:1",
                 env={"PATH": str(empty)})
    assert result.exit_code == 1
    assert "No container engine found" in result.output
    assert "mltrack models dockerfile" in result.output


def test_build_docker_with_a_client_but_no_engine_says_so(tmp_path: Path) -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("the docker client is not installed here")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").symlink_to(docker)
    result = cli("models", "build-docker", "-m", str(tmp_path / "m"), "-t", "x:1",
                 env={"PATH": str(bin_dir), "DOCKER_HOST": f"unix://{tmp_path}/no.sock"})
    assert result.exit_code == 1
    assert "docker is installed but no engine answers" in result.output


IMPORTS = """
import importlib.abc, json, sys
from importlib import metadata
from pathlib import Path

allowed = set(json.loads(sys.argv[2])) | {"jupyter-mltrack"}
owners = metadata.packages_distributions()

class OnlyPinned(importlib.abc.MetaPathFinder):
    # As in the image: a module of a distribution that is not pinned is not installed.
    def find_spec(self, fullname, path=None, target=None):
        top = fullname.split(".")[0]
        if top in sys.stdlib_module_names or top not in owners:
            return None
        if not {d.lower().replace("_", "-") for d in owners[top]} & allowed:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None

sys.meta_path.insert(0, OnlyPinned())
import jupyter_mltrack.cli
from jupyter_mltrack.serving.app import _score
from jupyter_mltrack.serving.follow import ServedModel
from jupyter_mltrack.serving.server import _uvicorn
import uvicorn.protocols.http.httptools_impl
served = ServedModel(Path(sys.argv[1]))
body = json.dumps({"dataframe_split": {"columns": ["a", "b", "c", "n"],
                                       "data": [[0.1, 0.2, 0.3, 1]]}}).encode()
print(_score(served.current, body, "application/json").decode())
print(_score(served.current, b"a,b,c,n\\n1.0,2.0,3.0,1\\n", "text/csv").decode())
"""


def test_the_pinned_requirements_are_enough_for_the_server(registered, tmp_path: Path) -> None:
    out = tmp_path / "ctx"
    assert cli("--tracking-uri", registered["uri"], "models", "dockerfile", "-m",
               "models:/churn/1", "-o", str(out)).exit_code == 0
    lines = (out / "requirements.txt").read_text().split()
    assert all("==" in line for line in lines), lines
    pinned = {line.split("==")[0].lower().replace("_", "-") for line in lines}
    assert "jupyter-mltrack" not in pinned  # the context ships the package's source instead
    assert {"python-dateutil", "scipy", "joblib"} <= pinned  # what pandas/sklearn need
    assert "pytest" not in pinned
    result = subprocess.run([sys.executable, "-c", IMPORTS, str(out / "model"),
                             json.dumps(sorted(pinned))], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines()[0].startswith('{"predictions":[')
