"""deploy/model-server: Kubernetes manifests valid against the Kubernetes schemas (no cluster)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from jupyter_mltrack.serving.docker import PORT

ROOT = Path(__file__).resolve().parents[1] / "deploy" / "model-server"
K8S = "1.30.0"


def _kustomization() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "kustomization.yaml").read_text())


def _resources() -> list[dict[str, Any]]:
    """The resources as written (kustomize's transformations are checked separately)."""
    docs = []
    for name in _kustomization()["resources"]:
        docs.extend(d for d in yaml.safe_load_all((ROOT / name).read_text()) if d)
    return docs


def _rendered() -> list[dict[str, Any]]:
    """What ``kubectl apply -k`` would send: ``kubectl kustomize``, which runs offline."""
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


def test_the_validator_rejects_a_broken_manifest() -> None:
    deployment = _by_kind(_resources())["Deployment"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinessProbe"]["httpGet"]["path"] = 8080
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S, strict=True)
    container["readinessProbe"]["httpGet"]["path"] = "/ping"
    container["resource"] = container.pop("resources")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S, strict=True)


def test_kustomize_renders_what_apply_k_takes() -> None:
    docs = _rendered()
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == ["Deployment", "HorizontalPodAutoscaler", "Namespace",
                     "PodDisruptionBudget", "Service"]
    assert all(d["metadata"].get("namespace") == "mltrack" for d in docs
               if d["kind"] != "Namespace")
    deployment = _by_kind(docs)["Deployment"]
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    wanted = _kustomization()["images"][0]
    assert image == f"{wanted['newName']}:{wanted['newTag']}"


def test_the_deployment_probes_the_server_the_image_runs() -> None:
    docs = _by_kind(_resources())
    deployment, service, hpa, pdb = (docs["Deployment"], docs["Service"],
                                     docs["HorizontalPodAutoscaler"],
                                     docs["PodDisruptionBudget"])
    pod = deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    port = container["ports"][0]
    assert port["containerPort"] == PORT and port["name"] == "http"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"] == {"path": "/ping", "port": "http"}
    requests = container["resources"]["requests"]
    assert requests["cpu"] and requests["memory"]
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert pod["spec"]["securityContext"]["runAsUser"] == 10001  # the Dockerfile's USER
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    labels = pod["metadata"]["labels"]
    for selector in (service["spec"]["selector"], deployment["spec"]["selector"]["matchLabels"],
                     pdb["spec"]["selector"]["matchLabels"]):
        assert selector.items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert hpa["spec"]["minReplicas"] >= pdb["spec"]["minAvailable"] + 1
