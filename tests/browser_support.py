"""Real-browser tests: a JupyterLab server on loopback and headless Chromium (Playwright).

Small API, for any test that clicks the real thing::

    from tests import browser_support as bs

    with bs.jupyterlab(root_dir, env={"MLTRACK_TRACKING_URI": uri}) as lab, \\
            bs.chromium() as browser:
        page = bs.new_page(browser)
        requests = bs.RequestLog(page)
        bs.open_notebook(page, lab, "demo.ipynb")
        bs.run_all(page, lab)                      # waits until every cell has run
        page.locator(".widget-button", has_text="Promote").click()
        bs.screenshot(page.locator(".mltrack-compare").first, "docs/screenshots/x.png")
        requests.assert_only_loopback()

- :func:`jupyterlab` starts ``jupyter lab`` (or ``jupyter notebook``, Notebook 7) on a
  free 127.0.0.1 port with a token, a
  fresh settings folder (no news toasts, no windowed notebook) and workspace folder,
  and stops it on exit. Extra ``env`` goes to the server and so to its kernels.
- :func:`chromium` launches Debian's ``/usr/bin/chromium`` headless (never a
  downloaded browser), with the flags that keep it off the network.
- :class:`RequestLog` records every request and websocket of a page;
  ``assert_only_loopback()`` fails listing any that left 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}

_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"fetchNews": "false", "checkForUpdates": False},
    # Every cell stays in the page, so tests can find outputs far down.
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class JupyterLab:
    """A running JupyterLab server."""

    root_dir: Path
    port: int
    token: str
    process: subprocess.Popen[bytes]
    log_path: Path
    app: str = "lab"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        """A URL of the server with the token (``path`` starts with ``/``)."""
        sep = "&" if "?" in path else "?"
        return f"{self.base_url}{path}{sep}token={self.token}"

    def api(self, path: str) -> Any:
        """GET a REST endpoint (``/api/sessions``...) and return its JSON."""
        with urllib.request.urlopen(self.url(path), timeout=10) as response:  # noqa: S310
            return json.loads(response.read())

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kernels_idle(self) -> bool:
        sessions = self.api("/api/sessions")
        return bool(sessions) and all(
            s["kernel"]["execution_state"] == "idle" for s in sessions)


@contextmanager
def jupyterlab(root_dir: str | os.PathLike[str], env: dict[str, str] | None = None,
               timeout: float = 90, app: str = "lab") -> Iterator[JupyterLab]:
    """Start JupyterLab (``app="notebook"``: Notebook 7) serving ``root_dir``; stop it
    (and its kernels) on exit."""
    root = Path(root_dir)
    state = Path(tempfile.mkdtemp(prefix="lab-state-"))
    for name, value in _SETTINGS.items():
        path = state / "settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    (state / "workspaces").mkdir()
    port, token = free_port(), secrets.token_hex(16)
    full_env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(state / "settings"),
                "JUPYTERLAB_WORKSPACES_DIR": str(state / "workspaces"), **(env or {})}
    log_path = state / "jupyterlab.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "jupyter", app, "--no-browser", f"--port={port}",
             "--port-retries=0", "--ServerApp.ip=127.0.0.1",
             f"--IdentityProvider.token={token}", "--allow-root",
             f"--ServerApp.root_dir={root}",
             *(["--LabApp.news_url="] if app == "lab" else []),
             "--ServerApp.disable_check_xsrf=False"],
            cwd=root, env=full_env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    lab = JupyterLab(root, port, token, process, log_path, app)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited early:\n{lab.log()[-3000:]}")
            try:
                lab.api("/api/status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"JupyterLab did not start:\n{lab.log()[-3000:]}") from None
                time.sleep(0.3)
        yield lab
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        shutil.rmtree(state, ignore_errors=True)


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing; install it with apt-get install chromium.")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser: Any, width: int = 1360, height: int = 1000) -> Any:
    page = browser.new_page(viewport={"width": width, "height": height},
                            device_scale_factor=1)
    page.set_default_timeout(30_000)
    return page


class RequestLog:
    """Every URL a page requests (HTTP and websockets)."""

    def __init__(self, page: Any):
        self.urls: list[str] = []
        page.on("request", lambda request: self.urls.append(request.url))
        page.on("websocket", lambda ws: self.urls.append(ws.url))

    def outside_loopback(self) -> list[str]:
        out = []
        for url in self.urls:
            parts = urlsplit(url)
            if parts.scheme in ("data", "blob", "about", "chrome", "chrome-extension"):
                continue
            if parts.hostname not in LOOPBACK:
                out.append(url)
        return out

    def assert_only_loopback(self) -> None:
        leaving = self.outside_loopback()
        assert not leaving, f"requests left 127.0.0.1: {leaving[:10]}"
        assert self.urls, "no request was recorded at all"


def open_notebook(page: Any, lab: JupyterLab, path: str, timeout: float = 90) -> None:
    """Open a notebook in JupyterLab (or Notebook 7) and wait until its kernel is idle."""
    if lab.app == "notebook":
        page.goto(lab.url(f"/notebooks/{path}"))
        page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=timeout * 1000)
    else:
        page.goto(lab.url(f"/lab/tree/{path}?reset"))
        page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=timeout * 1000)
        page.locator(".jp-StatusBar-Item", has_text="Idle").first.wait_for(
            timeout=timeout * 1000)
    deadline = time.monotonic() + timeout
    stable_since = None
    while True:
        idle = lab.kernels_idle()
        now = time.monotonic()
        if idle:
            stable_since = stable_since or now
            if now - stable_since > 1.0:
                return
        else:
            stable_since = None
        if now > deadline:
            raise TimeoutError(f"no idle kernel for {path}; sessions: {lab.api('/api/sessions')}")
        time.sleep(0.25)


def _prompts(page: Any) -> list[str]:
    return page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()  # type: ignore


def run_all(page: Any, lab: JupyterLab, timeout: float = 300) -> None:
    """Run All Cells from the Run menu; return once every code cell has run.

    Raises if a cell shows an error output, naming it.
    """
    for _attempt in range(3):
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        try:
            page.wait_for_function(
                """() => { const p = document.querySelector('.jp-CodeCell .jp-InputPrompt');
                           return p && /\\[(\\*|\\d+)\\]/.test(p.textContent); }""",
                timeout=15_000)
            break
        except Exception:
            page.keyboard.press("Escape")
    deadline = time.monotonic() + timeout
    while True:
        prompts = _prompts(page)
        done = prompts and all(p.strip().startswith("[") and "*" not in p and p.strip() != "[ ]:"
                               for p in prompts)
        if done and lab.kernels_idle():
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"cells still running after {timeout} s: {prompts}")
        time.sleep(0.5)
    failed = page.locator(".jp-RenderedText[data-mime-type='application/vnd.jupyter.error']")
    if failed.count():
        raise AssertionError("a cell failed:\n" + "\n".join(failed.all_inner_texts())[:3000])


def wait_for(predicate: Any, timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail saying ``what`` after
    ``timeout`` seconds, with the last value it returned."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what} (last value: {value!r})")
        time.sleep(0.25)


def set_theme(page: Any, name: str) -> None:
    """Switch the page to a theme ("JupyterLab Dark", "JupyterLab Light") from the
    Settings menu, as a user would, and wait until it applies."""
    page.locator(".lm-MenuBar-itemLabel", has_text="Settings").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Theme").first.click()
    page.locator(".lm-Menu-itemLabel", has_text=name).first.click()
    light = "false" if "Dark" in name else "true"
    wait_for(lambda: page.evaluate(f"document.body.dataset.jpThemeLight === '{light}'"),
             what=f"the {name} theme")


def screenshot(target: Any, path: str | os.PathLike[str]) -> Path:
    """Screenshot a page or a locator into ``path`` (folders are created)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    target.screenshot(path=str(out))
    return out
