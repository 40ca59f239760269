"""deploy/team-server: a Dockerfile and Kubernetes manifests valid against the Kubernetes
schemas (no cluster runs here), wired to what the server really answers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import tomllib
import yaml

from jupyter_mltrack.server.app import ROUTES

REPO = Path(__file__).resolve().parents[1]
ROOT = REPO / "deploy" / "team-server"
K8S = "1.30.0"


def _kustomization() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "kustomization.yaml").read_text())


def _resources() -> list[dict[str, Any]]:
    docs = []
    for name in _kustomization()["resources"]:
        docs.extend(d for d in yaml.safe_load_all((ROOT / name).read_text()) if d)
    return docs


def _rendered() -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed here")
    out = subprocess.run([kubectl, "kustomize", str(ROOT)], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def _by_kind(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in docs}


@pytest.mark.parametrize("version", [K8S, kubernetes_validate.latest_version()])
def test_every_manifest_is_valid_against_the_kubernetes_schemas(version: str) -> None:
    for doc in [*_resources(), *_rendered()]:
        kubernetes_validate.validate(doc, version, strict=True)


def test_kustomize_renders_the_whole_server() -> None:
    docs = _rendered()
    assert sorted(d["kind"] for d in docs) == ["ConfigMap", "Deployment", "Job", "Namespace",
                                               "PodDisruptionBudget", "Secret", "Service"]
    assert all(d["metadata"].get("namespace") == "mltrack" for d in docs
               if d["kind"] != "Namespace")
    wanted = _kustomization()["images"][0]
    kinds = _by_kind(docs)
    for kind in ("Deployment", "Job"):
        image = kinds[kind]["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image == f"{wanted['newName']}:{wanted['newTag']}"


def _public_paths() -> set[str]:
    return {r.path for r in ROUTES if r.access.scope == "public" and r.method == "GET"}


def test_the_deployment_and_job_run_the_server_the_image_holds() -> None:
    docs = _by_kind(_resources())
    deployment, job, service, secret, config, pdb = (
        docs["Deployment"], docs["Job"], docs["Service"], docs["Secret"], docs["ConfigMap"],
        docs["PodDisruptionBudget"])
    assert deployment["spec"]["replicas"] >= 2
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    port = container["ports"][0]
    args = container["args"]
    assert args[args.index("--port") + 1] == str(port["containerPort"])
    assert args[args.index("--host") + 1] == "0.0.0.0"  # noqa: S104 - in a pod, on purpose
    assert "--auth" in args and int(args[args.index("--workers") + 1]) >= 2
    # probes hit public routes the server answers without credentials or a known Host
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    for probe in ("livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}
    assert {"/ready", "/health"} <= _public_paths()
    # every secret and config key referenced exists; the database URL and S3 keys are secret
    for spec in (pod, job["spec"]["template"]["spec"]):
        env = spec["containers"][0]["env"]
        for item in env:
            ref = item["valueFrom"]
            if "secretKeyRef" in ref:
                assert ref["secretKeyRef"]["key"] in secret["stringData"], item
            else:
                assert ref["configMapKeyRef"]["key"] in config["data"], item
        secret_vars = {e["name"] for e in env if "secretKeyRef" in e["valueFrom"]}
        assert {"MLTRACK_SERVER_BACKEND_STORE_URI", "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY"} <= secret_vars
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == 10001
        assert spec["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]
    job_env = {e["name"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert {"MLTRACK_SERVER_ADMIN_USERNAME", "MLTRACK_SERVER_ADMIN_PASSWORD"} <= job_env
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    for selector in (service["spec"]["selector"], pdb["spec"]["selector"]["matchLabels"]):
        assert selector.items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"


def test_the_dockerfile_installs_the_server_extra_and_runs_as_the_pods_user() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    assert lines[0].startswith("FROM python:3.1")
    assert any('pip install ".[server]"' in line for line in lines)
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert any(dep.startswith("uvicorn") for dep in extras["server"])
    assert "USER 10001:10001" in lines
    assert "EXPOSE 5000" in lines
    assert 'ENTRYPOINT ["mltrack", "server"]' in lines
    copied = [line.split()[1:-1] for line in lines if line.startswith("COPY")]
    for names in copied:
        for name in names:
            assert (REPO / name).exists(), name


def test_the_migration_command_prepares_the_database_and_the_first_admin(
        tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO),
           "MLTRACK_SERVER_BACKEND_STORE_URI": f"sqlite:///{tmp_path / 'db' / 'mltrack.db'}",
           "MLTRACK_SERVER_ARTIFACTS_DESTINATION": str(tmp_path / "artifacts"),
           "MLTRACK_SERVER_ADMIN_USERNAME": "root",
           "MLTRACK_SERVER_ADMIN_PASSWORD": "a-long-enough-password"}
    for _ in range(2):  # a second run changes nothing and does not fail
        done = subprocess.run([sys.executable, "-m", "jupyter_mltrack.cli", "server",
                               "migrate"], env=env, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr
    from jupyter_mltrack.store.server_sql import ServerStore

    users = ServerStore(f"sqlite:///{tmp_path / 'db' / 'mltrack-server.db'}")
    assert users.authenticate("root", "a-long-enough-password") is not None
    assert [u.username for u in users.list_users()] == ["root"]
