"""``/openapi.json`` follows the route table, and a schemathesis run over it against a
real server finds no 5xx answer."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from jupyter_mltrack.server.app import ROUTES
from jupyter_mltrack.server.openapi import document
from tests.team_server import TeamServer


def test_the_document_lists_every_served_route_with_its_parameters() -> None:
    doc = document(ROUTES)
    served = {(r.method.lower(), r.path.replace(":path", "")) for r in ROUTES
              if r.tag != "unsupported"}
    listed = {(method, path) for path, ops in doc["paths"].items() for method in ops}
    assert listed == served
    get_run = doc["paths"]["/api/2.0/mlflow/runs/get"]["get"]
    assert {"name": "run_id", "in": "query", "required": True,
            "schema": {"type": "string"}} in get_run["parameters"]
    create = doc["paths"]["/api/2.0/mlflow/experiments/create"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["required"] == \
        ["name"]
    batches = doc["paths"]["/api/2.0/mltrack/runs/write-metrics"]["post"]["requestBody"][
        "content"]["application/json"]["schema"]["properties"]["batches"]
    assert batches["items"] == {"type": "object"}
    assert "series: [{key, steps: [int], values: [number" in batches["description"]
    assert doc["paths"]["/health"]["get"]["security"] == []
    assert set(doc["components"]["securitySchemes"]) == {"basic", "bearer"}


@pytest.mark.slow
def test_schemathesis_finds_no_server_error(tmp_path: Path) -> None:
    server = TeamServer(f"sqlite:///{tmp_path / 'db' / 'mltrack.db'}",
                        str(tmp_path / "artifacts"), tmp_path)
    st = shutil.which("schemathesis") or str(Path(sys.executable).with_name("schemathesis"))
    with server:
        served = httpx.get(server.url + "/openapi.json").json()
        assert served == document(ROUTES)
        # something to find: an experiment with a run
        exp = httpx.post(server.url + "/api/2.0/mlflow/experiments/create",
                         json={"name": "fuzz"}).json()["experiment_id"]
        httpx.post(server.url + "/api/2.0/mlflow/runs/create", json={"experiment_id": exp})
        done = subprocess.run(
            [st, "run", server.url + "/openapi.json", "--checks", "not_a_server_error",
             "--max-examples", "8", "--no-shrink", "--seed", "7",
             "--phases", "coverage,fuzzing,stateful"],
            capture_output=True, text=True, timeout=900, cwd=tmp_path)
        log = server.log.read_text()
    assert done.returncode == 0, done.stdout[-6000:]
    assert "passed" in done.stdout
    assert "Unexpected error" not in log and "Traceback" not in log
