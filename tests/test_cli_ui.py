"""``mltrack ui``: a real JupyterLab on a real port, bound to the store it was given, with
the dashboard set to open."""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from jupyter_mltrack import Client
from jupyter_mltrack.cli import main
from tests import browser_support as bs
from tests.browser_support import free_port

pytestmark = pytest.mark.slow


def _server_extension_enabled() -> bool:
    done = subprocess.run(
        [sys.executable, "-m", "jupyter_server.extension.serverextension", "list"],
        capture_output=True, text=True, check=False)
    text = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)
    return "jupyter_mltrack.server.lab enabled" in text


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
        return json.loads(response.read())


@pytest.mark.browser
def test_mltrack_ui_serves_the_given_store_with_the_dashboard_open(tmp_path: Path) -> None:
    if not _server_extension_enabled():
        pytest.skip("the jupyter_mltrack server extension is not installed here; pip install "
                    "the package (its wheel enables it)")
    store = tmp_path / "elsewhere" / "mlflow-like.db"
    Client(f"sqlite:///{store}").create_experiment("from-ui")
    port, token = free_port(), secrets.token_hex(8)
    root = tmp_path / "root"
    root.mkdir()
    log = (tmp_path / "ui.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-c", "from jupyter_mltrack.cli import main; main()", "ui",
         "--backend-store-uri", f"sqlite:///{store}", "--port", str(port), "--no-browser",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         "--allow-root"],
        cwd=root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={k: v for k, v in os.environ.items() if k != "MLTRACK_TRACKING_URI"})
    try:
        base = f"http://127.0.0.1:{port}/mltrack/api"
        deadline = time.monotonic() + 90
        while True:
            try:
                info = _get(f"{base}/store?token={token}")
                break
            except OSError:
                assert process.poll() is None, (tmp_path / "ui.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "mltrack ui did not start"
                time.sleep(0.3)
        assert info["tracking_uri"] == f"sqlite:///{store}"
        assert info["open_dashboard"] is True
        names = [e["name"] for e in _get(f"{base}/experiments?token={token}")]
        assert "from-ui" in names
        assert "ML Tracker on sqlite:///" in (tmp_path / "ui.log").read_text()
        # In the browser the dashboard is open at once, on the given store.
        with bs.chromium() as browser:
            page = bs.new_page(browser)
            page.goto(f"http://127.0.0.1:{port}/lab?reset&token={token}")
            dashboard = page.locator("#mltrack-dashboard")
            dashboard.wait_for(state="visible", timeout=90_000)
            select = dashboard.locator(".mltrack-experiment-select")
            bs.wait_for(lambda: "from-ui" in select.inner_text(), what="the store's experiment")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
        log.close()


def test_mltrack_ui_refuses_an_unknown_store_scheme() -> None:
    result = CliRunner().invoke(main, ["ui", "--backend-store-uri", "ftp://x/y"])
    assert result.exit_code == 1
    assert "unknown scheme 'ftp'" in result.output
    assert "sqlite:///path/mltrack.db" in result.output


def test_mltrack_ui_help_names_the_mlflow_options() -> None:
    result = CliRunner().invoke(main, ["ui", "--help"])
    assert result.exit_code == 0
    assert "--backend-store-uri" in result.output and "7006" in result.output
