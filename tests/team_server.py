"""A real team server for tests: ``mltrack server`` as a subprocess on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ADMIN = ("admin", "admin-password-123")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TeamServer:
    """``mltrack server`` on 127.0.0.1; ``url`` once started."""

    def __init__(self, backend: str, artifacts: str, folder: Path, *, auth: bool = False,
                 workers: int = 1, env: dict[str, str] | None = None,
                 extra: list[str] | None = None):
        self.backend, self.artifacts, self.folder = backend, artifacts, folder
        self.auth, self.workers = auth, workers
        self.env = env or {}
        self.extra = extra or []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = folder / f"server-{self.port}.log"

    def command(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``mltrack server --backend-store-uri ... <args>`` (admin commands)."""
        return subprocess.run(
            [sys.executable, "-m", "jupyter_mltrack.cli", "server", "--backend-store-uri",
             self.backend, "--artifacts-destination", self.artifacts, *args],
            capture_output=True, text=True, env=self._env(), timeout=120, check=True,
            input=ADMIN[1] + "\n" if "--password-stdin" in args else None)

    def _env(self) -> dict[str, str]:
        env = {**os.environ, **self.env}
        env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
        return env

    def start(self, timeout: float = 60) -> TeamServer:
        args = [sys.executable, "-m", "jupyter_mltrack.cli", "server",
                "--backend-store-uri", self.backend, "--artifacts-destination",
                self.artifacts, "--port", str(self.port), "--workers", str(self.workers),
                *(["--auth"] if self.auth else []), *self.extra]
        env = self._env()
        if self.auth:
            env.setdefault("MLTRACK_SERVER_ADMIN_USERNAME", ADMIN[0])
            env.setdefault("MLTRACK_SERVER_ADMIN_PASSWORD", ADMIN[1])
        handle = open(self.log, "ab")
        self.proc = subprocess.Popen(args, stdout=handle, stderr=handle, env=env,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {self.log.read_text()[-4000:]}")
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"server did not start: {self.log.read_text()[-4000:]}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)

    def __enter__(self) -> TeamServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def mlflow_env(server: TeamServer, **extra: str) -> dict[str, str]:
    """Environment for an MLflow client script talking to ``server``."""
    return {"MLFLOW_TRACKING_URI": server.url, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
            **extra}


class MotoS3:
    """A moto S3 server on loopback, with one bucket."""

    def __init__(self) -> None:
        import shutil

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        server = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
        self.proc = subprocess.Popen([server, "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.2)
        else:
            self.proc.kill()
            raise AssertionError("moto_server did not start")
        self.env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                    "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": self.url}

    def bucket(self, name: str) -> str:
        import boto3

        boto3.client("s3", endpoint_url=self.url, aws_access_key_id="testing",
                     aws_secret_access_key="testing", region_name="us-east-1"
                     ).create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> list[str]:
        import boto3

        client = boto3.client("s3", endpoint_url=self.url, aws_access_key_id="testing",
                              aws_secret_access_key="testing", region_name="us-east-1")
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
