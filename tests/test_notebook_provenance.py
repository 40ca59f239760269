"""Where runs come from: a real Jupyter server's sessions API, VS Code, env vars, scripts."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from jupyter_mltrack.notebook import provenance

TOKEN = "provenance-test-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _api(base: str, path: str, method: str = "GET", body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{base}{path}", data=data, method=method)  # noqa: S310
    request.add_header("Authorization", f"token {TOKEN}")
    request.add_header("Content-Type", "application/json")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=30) as response:
        text = response.read().decode()
    return json.loads(text) if text else None


@dataclass
class Server:
    base: str
    root: Path
    runtime: Path
    uri: str
    session: dict[str, Any]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("root")
    runtime = tmp_path_factory.mktemp("runtime")
    (root / "sub").mkdir()
    uri = f"sqlite:///{root / '.mltrack' / 'mltrack.db'}"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("JPY_SESSION_NAME",
                                                               "MLTRACK_NOTEBOOK_PATH")}
    env.update({"JUPYTER_RUNTIME_DIR": str(runtime), "MLTRACK_TRACKING_URI": uri,
                "MLTRACK_USER": "tester"})
    log = (tmp_path_factory.mktemp("log") / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--no-browser", f"--port={port}",
         "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={TOKEN}",
         f"--ServerApp.root_dir={root}", "--allow-root"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                _api(base, "/api/status")
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"jupyter server did not start; see {log.name}")
                time.sleep(0.2)
        session = _api(base, "/api/sessions", "POST", {
            "path": "sub/experiment.ipynb", "type": "notebook", "name": "experiment.ipynb",
            "kernel": {"name": "python3"},
        })
        yield Server(base, root, runtime, uri, session)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


@pytest.mark.kernel
def test_running_servers_reads_the_runtime_dir(server: Server) -> None:
    infos = list(provenance.running_servers(str(server.runtime)))
    assert len(infos) == 1
    assert infos[0]["url"].rstrip("/") == server.base
    assert Path(infos[0]["root_dir"]) == server.root


@pytest.mark.kernel
def test_match_session_against_the_servers_real_json(server: Server) -> None:
    info = next(provenance.running_servers(str(server.runtime)))
    sessions = provenance.fetch_sessions(info)
    kernel = server.session["kernel"]["id"]
    assert provenance.match_session(sessions, kernel, info["root_dir"]) == \
        str(server.root / "sub" / "experiment.ipynb")
    assert provenance.match_session(sessions, "not-a-kernel", info["root_dir"]) is None
    assert provenance.find_session_path(kernel, str(server.runtime)) == \
        str(server.root / "sub" / "experiment.ipynb")
    assert provenance.find_session_path("not-a-kernel", str(server.runtime)) is None


@pytest.mark.kernel
def test_server_without_valid_token_is_skipped(server: Server, tmp_path: Path) -> None:
    info = dict(next(provenance.running_servers(str(server.runtime))))
    info["token"] = "wrong"
    (tmp_path / "jpserver-1.json").write_text(json.dumps(info))
    assert provenance.find_session_path(server.session["kernel"]["id"], str(tmp_path)) is None


def test_dead_server_files_are_ignored(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(proc.stdout)
    (tmp_path / "jpserver-9.json").write_text(json.dumps(
        {"pid": dead_pid, "url": "http://127.0.0.1:9/", "token": "x"}))
    (tmp_path / "jpserver-10.json").write_text("{ not json")
    assert list(provenance.running_servers(str(tmp_path))) == []


@pytest.mark.kernel
def test_kernel_started_by_the_server_finds_its_renamed_notebook(server: Server) -> None:
    """The real thing: a kernel the server started runs %%track after a rename."""
    from jupyter_client import BlockingKernelClient

    from jupyter_mltrack import Client

    session_id = server.session["id"]
    kernel = server.session["kernel"]["id"]
    # Renamed in the UI after the kernel started: JPY_SESSION_NAME still has the old
    # name, the sessions API has the new one.
    _api(server.base, f"/api/sessions/{session_id}", "PATCH",
         {"path": "sub/renamed.ipynb", "name": "renamed.ipynb"})
    kc = BlockingKernelClient(connection_file=str(server.runtime / f"kernel-{kernel}.json"))
    kc.load_connection_file()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        outputs: list[str] = []

        def hook(msg: dict[str, Any]) -> None:
            content = msg["content"]
            if msg["msg_type"] == "stream":
                outputs.append(content["text"])
            elif msg["msg_type"] == "error":
                outputs.append("\n".join(content["traceback"]))

        for code in ("%load_ext jupyter_mltrack",
                     "import os; print(os.environ.get('JPY_SESSION_NAME'))",
                     "%%track --name from-server --quiet\nalpha = 1"):
            reply = kc.execute_interactive(code, timeout=60, output_hook=hook)
            assert reply["content"]["status"] == "ok", outputs
    finally:
        kc.stop_channels()
    assert outputs[0].strip().endswith("experiment.ipynb")  # the stale name
    client = Client(server.uri)
    exp = client.get_experiment_by_name("Default")
    run = next(iter(client.search_runs([exp.experiment_id])))
    tags = run.data.tags
    assert tags["mltrack.notebook.path"] == str(server.root / "sub" / "renamed.ipynb")
    assert tags["mltrack.notebook.path_source"] == "jupyter-server"
    assert tags["mltrack.notebook.kernel_id"] == kernel
    assert tags["mltrack.source.type"] == "NOTEBOOK"
    assert run.data.params == {"alpha": "1"}


def test_vscode_variable_and_env_fallbacks(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.delenv("MLTRACK_NOTEBOOK_PATH", raising=False)
    assert provenance.notebook_path(shell, None) == (None, None)
    monkeypatch.setenv("MLTRACK_NOTEBOOK_PATH", str(tmp_path / "env.ipynb"))
    assert provenance.notebook_path(shell, None) == \
        (str(tmp_path / "env.ipynb"), "MLTRACK_NOTEBOOK_PATH")
    monkeypatch.setenv("JPY_SESSION_NAME", str(tmp_path / "session.ipynb"))
    assert provenance.notebook_path(shell, None) == \
        (str(tmp_path / "session.ipynb"), "JPY_SESSION_NAME")
    shell.user_ns["__vsc_ipynb_file__"] = str(tmp_path / "vscode.ipynb")
    try:
        assert provenance.notebook_path(shell, None) == \
            (str(tmp_path / "vscode.ipynb"), "vscode")
    finally:
        del shell.user_ns["__vsc_ipynb_file__"]


def test_kernel_id_from_connection_file_names() -> None:
    assert provenance.kernel_id_from_connection_file(
        "/run/jupyter/kernel-3f1c2d9e-1b2a-4c3d-9e8f-001122334455.json") == \
        "3f1c2d9e-1b2a-4c3d-9e8f-001122334455"
    assert provenance.kernel_id_from_connection_file("/tmp/tmpab12cd.json") == "tmpab12cd"


def test_plain_script_gets_its_path_and_the_same_context(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(
        "import json\nimport jupyter_mltrack as mltrack\n"
        "with mltrack.start_run(run_name='script') as run:\n"
        "    mltrack.log_param('lr', 0.1)\n"
        "print(json.dumps(mltrack.get_run(run.info.run_id).data.tags))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("JPY_SESSION_NAME",)}
    env.update({"MLTRACK_TRACKING_URI": f"sqlite:///{tmp_path / 'mltrack.db'}",
                "MLTRACK_USER": "tester"})
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120, check=True)
    tags = json.loads(out.stdout.strip().splitlines()[-1])
    assert tags["mltrack.source.type"] == "LOCAL"
    assert tags["mltrack.source.name"] == str(script.resolve())
    assert tags["mltrack.user"] == "tester"
    assert tags["mltrack.host"] == socket.gethostname()
    packages = dict(line.split("==") for line in tags["mltrack.packages"].splitlines())
    import sqlalchemy

    assert packages["SQLAlchemy"] == sqlalchemy.__version__
    assert "mltrack.notebook.cell_source" not in tags


TRACKED_NOTEBOOK = [
    "%load_ext jupyter_mltrack",
    "%%track --name headless\nalpha = 1\nscore = alpha * 2.5",
]


def _headless_run(tmp_path: Path, command: list[str], env_extra: dict[str, str] | None = None
                  ) -> dict[str, str]:
    """Execute a notebook with %%track in ``tmp_path/nbs`` through ``command``; its tags."""
    import nbformat

    from jupyter_mltrack import Client

    folder = tmp_path / "nbs"
    folder.mkdir(exist_ok=True)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in TRACKED_NOTEBOOK]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, folder / "train.ipynb")
    uri = f"sqlite:///{tmp_path / 'mltrack.db'}"
    env = {k: v for k, v in os.environ.items() if k not in ("JPY_SESSION_NAME",
                                                               "MLTRACK_NOTEBOOK_PATH")}
    env.update({"MLTRACK_TRACKING_URI": uri, "MLTRACK_USER": "tester", **(env_extra or {})})
    exe = Path(sys.executable).parent
    subprocess.run([str(exe / command[0]), *command[1:]], cwd=tmp_path, env=env,
                   capture_output=True, text=True, timeout=300, check=True)
    runs = Client(uri).search_runs(None, "attributes.run_name = 'headless'")
    assert len(runs) == 1
    return runs[0].data.tags


@pytest.mark.kernel
@pytest.mark.slow
def test_jupyter_execute_records_the_notebook_path(tmp_path: Path) -> None:
    tags = _headless_run(tmp_path, ["jupyter-execute", "nbs/train.ipynb"])
    path = str((tmp_path / "nbs" / "train.ipynb").resolve())
    assert tags["mltrack.notebook.path"] == path
    assert tags["mltrack.source.name"] == path
    assert tags["mltrack.notebook.path_source"] == "jupyter-execute"
    assert tags["mltrack.notebook.cwd"] == str((tmp_path / "nbs").resolve())


@pytest.mark.kernel
@pytest.mark.slow
def test_nbconvert_execute_records_the_notebook_path(tmp_path: Path) -> None:
    tags = _headless_run(tmp_path, ["jupyter", "nbconvert", "--to", "notebook", "--execute",
                                    "--output", "done.ipynb", "nbs/train.ipynb"])
    assert tags["mltrack.notebook.path"] == str((tmp_path / "nbs" / "train.ipynb").resolve())
    assert tags["mltrack.notebook.path_source"] == "jupyter-nbconvert"


def test_notebook_from_the_runners_command_line(tmp_path: Path) -> None:
    """The command lines of headless runners, as the kernel reads its launcher's."""
    (tmp_path / "a").mkdir()
    for name in ("a/x.ipynb", "a/y.ipynb", "a/out.ipynb", "in.ipynb"):
        (tmp_path / name).write_text("{}")
    run = str(tmp_path)
    here, sub = tmp_path.resolve(), (tmp_path / "a").resolve()
    found = provenance.notebook_from_command
    assert found(["python", "/venv/bin/jupyter-execute", "a/x.ipynb", "--output=o"], run,
                 str(sub)) == (str(sub / "x.ipynb"), "jupyter-execute")
    # Two notebooks in the kernel's folder: which one runs cannot be told.
    assert found(["python", "/venv/bin/jupyter-execute", "a/x.ipynb", "a/y.ipynb"], run,
                 str(sub)) == (None, None)
    assert found(["python", "/venv/bin/jupyter-nbconvert", "--execute", "--output",
                  "a/out.ipynb", "a/x.ipynb"], run, str(sub)) == \
        (str(sub / "x.ipynb"), "jupyter-nbconvert")
    assert found(["/venv/bin/python", "/venv/bin/papermill", "in.ipynb", "a/out.ipynb", "-p",
                  "alpha", "0.6"], run, str(here)) == (str(here / "in.ipynb"), "papermill")
    assert found(["python", "-m", "papermill", "in.ipynb", "out.ipynb"], run, str(here)) == \
        (str(here / "in.ipynb"), "papermill")
    assert found(["papermill", "s3://bucket/in.ipynb", "s3://bucket/out.ipynb"], run,
                 str(here)) == ("s3://bucket/in.ipynb", "papermill")
    # A server or any other launcher is not a runner: its arguments say nothing.
    assert found(["python", "/venv/bin/jupyter-lab", "a/x.ipynb"], run, str(sub)) == \
        (None, None)
    assert found(["python", "-m", "pytest", "a/x.ipynb"], run, str(sub)) == (None, None)
