"""The artifact proxy (``/api/2.0/mlflow-artifacts/...``) and MLflow 3's logged models.

Clients name files relative to the artifact destination, ``<experiment id>/<run
id>/artifacts/...`` or ``<experiment id>/models/<model id>/artifacts/...``; every path
goes through the store's traversal checks before it touches a file or a bucket, and
the permission needed is on the experiment the path starts with.
"""

from __future__ import annotations

import mimetypes
import os
import re
import uuid
from pathlib import Path
from typing import Any

from ..artifacts import clean_artifact_path
from ..errors import InvalidParameter, NotFound
from . import mlflow_json as js
from .auth import readable, require
from .http import Call, PermissionDenied, Reply
from .routes import ANY_USER, Access, Route, on_experiment, params
from .tracking_api import experiment_id, not_supported

A = "/api/2.0/mlflow-artifacts"
P = "/api/2.0/mlflow"


def _path(call: Call, name: str = "artifact_path") -> str:
    raw = call.path_params.get(name)
    if raw is None:
        raw = call.text("path", required=False, default="")
    return clean_artifact_path(raw)


def _experiment_of_path(call: Call) -> str | None:
    rel = _path(call)
    first = rel.split("/", 1)[0]
    if not first.isdigit():
        if call.principal.is_admin:
            return None
        raise PermissionDenied(
            f"Artifact path {rel!r} is not inside an experiment's folder; only an admin may "
            "reach it.")
    return first


def on_path(level: str) -> Access:
    return Access("experiment", level, _experiment_of_path)


def download(call: Call) -> Reply:
    rel = _path(call)
    if not rel:
        raise InvalidParameter("Name a file to download.")
    parent, _, name = rel.rpartition("/")
    repo = call.state.repository(parent)
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    headers = [(b"content-disposition", f'attachment; filename="{_safe(name)}"'.encode()),
               (b"x-content-type-options", b"nosniff")]
    local = getattr(repo, "local_path", None)
    if local is not None:
        target = Path(repo.local_path(name))
        if not target.is_file():
            raise NotFound(f"No artifact file {rel!r}.")
        return Reply(b"", _inert(kind), headers=headers, file=str(target))
    return Reply(repo.read_bytes(name), _inert(kind), headers=headers)


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name)[:200]


def _inert(kind: str) -> str:
    """Never serve stored files as something a browser would run."""
    if kind.startswith("text/html") or "javascript" in kind or kind == "image/svg+xml":
        return "text/plain"
    return kind


def upload(call: Call) -> dict[str, Any]:
    rel = _path(call)
    parent, _, name = rel.rpartition("/")
    if not name or call.upload is None:
        raise InvalidParameter("Name the file to upload: PUT .../artifacts/<path>/<file>.")
    staged = Path(call.upload)
    folder = staged.parent / uuid.uuid4().hex
    folder.mkdir()
    target = folder / name
    os.replace(staged, target)
    try:
        call.state.repository(parent).log_file(target, "")
    finally:
        target.unlink(missing_ok=True)
        folder.rmdir()
    return {}


def list_files(call: Call) -> dict[str, Any]:
    rel = _path(call)
    prefix = rel + "/" if rel else ""
    files = []
    for f in call.state.repository().list(rel):
        if not f.path.startswith(prefix) or f.path == rel:
            continue  # the listed path itself: a file has no entries
        files.append({"path": f.path[len(prefix):], "is_dir": f.is_dir,
                      **({"file_size": f.file_size} if f.file_size is not None else {})})
    return {"files": files}


def list_run_artifacts(call: Call) -> dict[str, Any]:
    run_id = call.text("run_id", required=False) or call.text("run_uuid")
    root = call.state.store.get_run(run_id).info.artifact_uri
    rel = clean_artifact_path(call.text("path", required=False, default=""))
    base = call.state.from_client(call.state.to_client(root) or root)
    from ..artifacts import artifact_repository

    entries = artifact_repository(base).list(rel)
    return {"root_uri": call.state.to_client(root),
            "files": [{"path": f.path, "is_dir": f.is_dir,
                       **({"file_size": f.file_size} if f.file_size is not None else {})}
                      for f in entries if f.path]}


def server_info(call: Call) -> dict[str, Any]:
    return {"store_type": "SqlStore", "workspaces_enabled": False,
            "multipart_uploads_enabled": False, "multipart_downloads_enabled": False}


# -- logged models ----------------------------------------------------------------------

def on_logged_model(level: str) -> Access:
    def locate(call: Call) -> str | None:
        model = call.state.server_store.get_logged_model(call.path_params["model_id"])
        return str(model.experiment_id)
    return Access("experiment", level, locate)


def create_logged_model(call: Call) -> dict[str, Any]:
    from ..tracking.client import random_run_name

    exp_id = experiment_id(call)
    exp = call.state.store.get_experiment(exp_id)
    run_id = call.text("source_run_id", required=False)
    if run_id is not None and call.state.store.get_run(run_id).info.experiment_id != exp_id:
        raise InvalidParameter(f"Run {run_id} is not in experiment {exp_id}.")
    model = call.state.server_store.create_logged_model(
        exp_id, call.text("name", required=False) or random_run_name(),
        exp.artifact_location, call.user, run_id,
        call.text("model_type", required=False), call.pairs("tags"), call.pairs("params"))
    return {"model": js.logged_model(model, call.state)}


def get_logged_model(call: Call) -> dict[str, Any]:
    model = call.state.server_store.get_logged_model(call.path_params["model_id"])
    return {"model": js.logged_model(model, call.state)}


_STATUSES = ("LOGGED_MODEL_PENDING", "LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED")


def finalize_logged_model(call: Call) -> dict[str, Any]:
    status = call.text("status")
    if status not in _STATUSES:
        raise InvalidParameter(f"Unknown status {status!r}; use one of {', '.join(_STATUSES)}.")
    model = call.state.server_store.update_logged_model(call.path_params["model_id"],
                                                        status=status)
    return {"model": js.logged_model(model, call.state)}


def delete_logged_model(call: Call) -> dict[str, Any]:
    call.state.server_store.update_logged_model(call.path_params["model_id"], deleted=True)
    return {}


def set_logged_model_tags(call: Call) -> dict[str, Any]:
    call.state.server_store.update_logged_model(call.path_params["model_id"],
                                                set_tags=call.pairs("tags"))
    return {}


def delete_logged_model_tag(call: Call) -> dict[str, Any]:
    call.state.server_store.update_logged_model(call.path_params["model_id"],
                                                delete_tag=call.path_params["tag_key"])
    return {}


def log_logged_model_params(call: Call) -> dict[str, Any]:
    call.state.server_store.update_logged_model(call.path_params["model_id"],
                                                params=call.pairs("params"))
    return {}


_LM_CONDITION = re.compile(r"""\s*(name|source_run_id)\s*=\s*(['"])(.*?)\2\s*""")


def _logged_model_filter(text: str | None) -> dict[str, str]:
    """``name = 'model' AND source_run_id = '...'`` as {field: value}."""
    out: dict[str, str] = {}
    if not text or not text.strip():
        return out
    for part in re.split(r"\s+AND\s+", text.strip(), flags=re.IGNORECASE):
        found = _LM_CONDITION.fullmatch(part)
        if found is None:
            raise InvalidParameter(
                f"Cannot read the logged model filter {part.strip()!r}; this server filters "
                "by name = '...' and source_run_id = '...', joined by AND.")
        out[found[1]] = found[3]
    return out


def search_logged_models(call: Call) -> dict[str, Any]:
    ids = call.strings("experiment_ids")
    for exp in ids:
        require(call, "experiment", exp, "READ")
    if not ids:
        every = call.state.store.search_experiments(max_results=50_000)
        ids = readable(call, "experiment", [e.experiment_id for e in every]) or ["-1"]
    limit = call.integer("max_results", 100, low=1, high=10_000)
    offset = call.integer("page_token", 0) if call.get("page_token") else 0
    wanted = _logged_model_filter(call.text("filter", required=False))
    models, more = call.state.server_store.search_logged_models(
        ids, limit, offset, wanted.get("source_run_id"), wanted.get("name"))
    return {"models": [js.logged_model(m, call.state) for m in models],
            **({"next_page_token": str(offset + limit)} if more else {})}


def list_logged_model_artifacts(call: Call) -> dict[str, Any]:
    model = call.state.server_store.get_logged_model(call.path_params["model_id"])
    rel = clean_artifact_path(call.text("artifact_directory_path", required=False, default=""))
    from ..artifacts import artifact_repository

    entries = artifact_repository(model.artifact_location).list(rel)
    return {"root_uri": call.state.to_client(model.artifact_location),
            "files": [{"path": f.path, "is_dir": f.is_dir,
                       **({"file_size": f.file_size} if f.file_size is not None else {})}
                      for f in entries if f.path]}


LM = f"{P}/logged-models"
ROUTES = [
    Route("GET", f"{A}/artifacts/{{artifact_path:path}}", download, on_path("READ"),
          "Download an artifact file", tag="artifacts"),
    Route("PUT", f"{A}/artifacts/{{artifact_path:path}}", upload, on_path("EDIT"),
          "Upload an artifact file", body="binary", tag="artifacts"),
    Route("DELETE", f"{A}/artifacts/{{artifact_path:path}}",
          not_supported("Deleting single artifacts"), on_path("EDIT"),
          "Delete an artifact (not supported: 501)", tag="unsupported"),
    Route("GET", f"{A}/artifacts", list_files, on_path("READ"), "List artifacts",
          params("path"), tag="artifacts"),
    Route("POST", f"{A}/mpu/create/{{artifact_path:path}}",
          not_supported("Multipart upload"), on_path("EDIT"),
          "Multipart upload (not supported: 501)", tag="unsupported"),
    Route("POST", f"{A}/mpu/complete/{{artifact_path:path}}",
          not_supported("Multipart upload"), on_path("EDIT"),
          "Multipart upload (not supported: 501)", tag="unsupported"),
    Route("POST", f"{A}/mpu/abort/{{artifact_path:path}}",
          not_supported("Multipart upload"), on_path("EDIT"),
          "Multipart upload (not supported: 501)", tag="unsupported"),
    Route("GET", f"{P}/artifacts/list", list_run_artifacts,
          Access("experiment", "READ", lambda c: str(c.state.store.get_run(
              c.text("run_id", required=False) or c.text("run_uuid")).info.experiment_id)),
          "List a run's artifacts", params("run_id!", "path", "page_token")),
    Route("GET", "/api/3.0/mlflow/server-info", server_info, ANY_USER,
          "What this server supports"),
    Route("POST", LM, create_logged_model, on_experiment("EDIT"), "Create a logged model",
          params("experiment_id!", "name", "model_type", "source_run_id",
                 ("params", "array"), ("tags", "array"))),
    Route("POST", f"{LM}/search", search_logged_models, ANY_USER, "Search logged models",
          params(("experiment_ids", "array"), "filter", ("max_results", "integer"),
                 "page_token")),
    Route("GET", f"{LM}/{{model_id}}", get_logged_model, on_logged_model("READ"),
          "Get a logged model"),
    Route("PATCH", f"{LM}/{{model_id}}", finalize_logged_model, on_logged_model("EDIT"),
          "Finalize a logged model", params("status!")),
    Route("DELETE", f"{LM}/{{model_id}}", delete_logged_model, on_logged_model("EDIT"),
          "Delete a logged model"),
    Route("PATCH", f"{LM}/{{model_id}}/tags", set_logged_model_tags, on_logged_model("EDIT"),
          "Set logged model tags", params(("tags", "array"))),
    Route("DELETE", f"{LM}/{{model_id}}/tags/{{tag_key}}", delete_logged_model_tag,
          on_logged_model("EDIT"), "Delete a logged model tag"),
    Route("POST", f"{LM}/{{model_id}}/params", log_logged_model_params,
          on_logged_model("EDIT"), "Log logged model params", params(("params", "array"))),
    Route("GET", f"{LM}/{{model_id}}/artifacts/directories", list_logged_model_artifacts,
          on_logged_model("READ"), "List a logged model's artifacts",
          params("artifact_directory_path")),
]
