"""Artifacts on an S3-compatible store: a real moto S3 server on loopback, through s3fs."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_mltrack.errors import InvalidArtifactPath, NotFound


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
    port = _free_port()
    proc = subprocess.Popen([server, "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("moto_server did not start")
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def s3_env(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    bucket = f"mltrack-{os.getpid()}-{time.monotonic_ns()}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    return bucket


def test_runs_log_and_read_artifacts_on_s3(client, s3_env: str, tmp_path: Path) -> None:
    import boto3

    exp = client.create_experiment("s3", artifact_location=f"s3://{s3_env}/exp")
    run = client.create_run(exp)
    assert run.info.artifact_uri == f"s3://{s3_env}/exp/{run.info.run_id}/artifacts"

    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights.bin").write_bytes(b"\x00\x01" * 1000)
    (tmp_path / "model" / "sub").mkdir()
    (tmp_path / "model" / "sub" / "conf.json").write_text('{"a": 1}')
    client.log_artifacts(run.info.run_id, tmp_path / "model", "model")
    client.log_text(run.info.run_id, "hello", "notes/readme.txt")
    client.log_dict(run.info.run_id, {"lr": 0.1}, "conf.yaml")

    # The objects really are in the bucket, under the run's prefix.
    keys = sorted(o["Key"] for o in boto3.client("s3").list_objects_v2(
        Bucket=s3_env)["Contents"])
    prefix = f"exp/{run.info.run_id}/artifacts/"
    assert keys == sorted(prefix + k for k in ("conf.yaml", "model/sub/conf.json",
                                                "model/weights.bin", "notes/readme.txt"))

    listing = {f.path: f for f in client.list_artifacts(run.info.run_id)}
    assert set(listing) == {"conf.yaml", "model", "notes"}
    assert listing["model"].is_dir and not listing["conf.yaml"].is_dir
    inner = {f.path: f.file_size for f in client.list_artifacts(run.info.run_id, "model")}
    assert inner == {"model/sub": None, "model/weights.bin": 2000}

    assert client.read_artifact(run.info.run_id, "notes/readme.txt") == b"hello"
    local = client.download_artifacts(run.info.run_id, "model", tmp_path / "dl")
    assert (Path(local) / "weights.bin").read_bytes() == b"\x00\x01" * 1000
    assert (Path(local) / "sub" / "conf.json").read_text() == '{"a": 1}'

    with pytest.raises(NotFound):
        client.read_artifact(run.info.run_id, "missing.txt")
    with pytest.raises(InvalidArtifactPath):
        client.log_text(run.info.run_id, "x", "../other-run/evil.txt")
    with pytest.raises(InvalidArtifactPath):
        client.read_artifact(run.info.run_id, "%2e%2e/%2e%2e/secret")


def test_gc_removes_s3_artifacts(client, s3_env: str) -> None:
    import boto3

    exp = client.create_experiment("s3-gc", artifact_location=f"s3://{s3_env}/gc")
    keep = client.create_run(exp)
    drop = client.create_run(exp)
    for run in (keep, drop):
        client.log_text(run.info.run_id, "x", "a.txt")
    client.delete_run(drop.info.run_id)
    assert client.gc() == [drop.info.run_id]
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=s3_env)["Contents"]]
    assert keys == [f"gc/{keep.info.run_id}/artifacts/a.txt"]
