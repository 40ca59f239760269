"""MLflow's model registry routes, on the registry service functions.

Every change is made as the authenticated user (``acting_as``), so the registry's
audit history names who really did it. A version's source must be a run's model
(``runs:/``), a logged model (``models:/m-...``) or files under this server's artifact
destination; a path or bucket of the caller's choosing is refused.
"""

from __future__ import annotations

import re
from typing import Any

from .. import registry as reg
from ..errors import InvalidParameter, NotFound
from ..models.provenance import RESERVED_VERSION_TAG_PREFIX
from ..registry.registered import clean_tags
from ..registry.validation import model_name, version_number
from ..registry.versions import check_is_model
from . import mlflow_json as js
from .auth import grant_creator, readable, require
from .http import Call
from .routes import ANY_USER, Route, on_model, params

P = "/api/2.0/mlflow"
#: The version tag holding the MLflow 3 logged model a version was registered from.
MODEL_ID_TAG = "mltrack.server.model_id"


def _version(call: Call) -> int:
    return version_number(call.text("version"))


def _exists(call: Call, name: str) -> bool:
    try:
        call.state.registry.get_registered_model(name)
    except NotFound:
        return False
    return True


def create_registered_model(call: Call) -> dict[str, Any]:
    model = reg.create_registered_model(call.text("name"), call.pairs("tags"),
                                        call.text("description", required=False),
                                        client=call.state.client)
    grant_creator(call, "registered_model", model.name)
    return {"registered_model": js.registered_model(model, call.state)}


def get_registered_model(call: Call) -> dict[str, Any]:
    model = reg.get_registered_model(call.text("name"), client=call.state.client)
    return {"registered_model": js.registered_model(model, call.state)}


def update_registered_model(call: Call) -> dict[str, Any]:
    name = call.text("name")
    description = call.text("description", required=False)
    if description is not None:
        reg.update_registered_model(name, description, client=call.state.client)
    return get_registered_model(call)


def rename_registered_model(call: Call) -> dict[str, Any]:
    """Rename the model, then move its grants; if they cannot move, the old name comes
    back, so a model is never left without its owner's MANAGE."""
    name = model_name(call.text("name"))
    model = reg.rename_registered_model(name, call.text("new_name"), client=call.state.client)
    try:
        call.state.server_store.rename_resource("registered_model", name, model.name)
    except Exception:
        reg.rename_registered_model(model.name, name, client=call.state.client)
        raise
    return {"registered_model": js.registered_model(model, call.state)}


def delete_registered_model(call: Call) -> dict[str, Any]:
    """Delete the model (refused while a version is in Staging or Production), then
    the grants on its name, so a later model of that name inherits none."""
    name = model_name(call.text("name"))
    reg.delete_registered_model(name, client=call.state.client)
    call.state.server_store.delete_resource("registered_model", name)
    return {}


_NOT_PROMPT = re.compile(
    r"""(\s+AND\s+)?tags?\.`?mlflow\.prompt\.is_prompt`?\s*!=\s*'true'(\s+AND\s+)?""",
    re.IGNORECASE)


def _without_prompt_clause(text: str | None) -> str | None:
    """MLflow clients add "not a prompt" to every model search; there are no prompts here."""
    if not text:
        return text
    return _NOT_PROMPT.sub(lambda m: " AND " if m[1] and m[2] else "", text).strip() or None


def search_registered_models(call: Call) -> dict[str, Any]:
    page = reg.search_registered_models(
        _without_prompt_clause(call.text("filter", required=False)),
        call.integer("max_results", 100, low=1, high=10_000),
        call.strings("order_by") or None, call.text("page_token", required=False),
        client=call.state.client)
    allowed = set(readable(call, "registered_model", [m.name for m in page.items]))
    return {"registered_models": [js.registered_model(m, call.state) for m in page.items
                                  if m.name in allowed],
            **({"next_page_token": page.next_page_token} if page.next_page_token else {})}


def latest_versions(call: Call) -> dict[str, Any]:
    stages = call.strings("stages") or None
    found = reg.get_latest_versions(call.text("name"), stages, client=call.state.client)
    return {"model_versions": [js.model_version(v, call.state) for v in found]}


def _source(call: Call, source: str, model_id: str | None) -> tuple[str, str | None]:
    """(where the version's files are, the logged model id) for a client's source."""
    text = source.strip()
    if text.startswith("models:/m-") or (model_id and text.startswith("models:/")):
        ident = model_id or text[len("models:/"):].split("/", 1)[0]
        logged = call.state.server_store.get_logged_model(ident)
        require(call, "experiment", logged.experiment_id, "READ")
        return logged.artifact_location, logged.model_id
    if text.startswith("runs:/"):
        return text, model_id
    return call.state.from_client(text), model_id


def create_model_version(call: Call) -> dict[str, Any]:
    name = model_name(call.text("name"))
    run_id = call.text("run_id", required=False)
    if run_id is not None:
        require(call, "experiment", call.state.store.get_run(run_id).info.experiment_id,
                "READ")
    source, model_id = _source(call, call.text("source"), call.text("model_id",
                                                                    required=False))
    if source.startswith("runs:/") and run_id is None:
        run_id = source[len("runs:/"):].split("/", 1)[0]
        require(call, "experiment", call.state.store.get_run(run_id).info.experiment_id,
                "READ")
    tags = clean_tags(call.pairs("tags"))
    reserved = sorted(k for k in tags if k.startswith(RESERVED_VERSION_TAG_PREFIX))
    if reserved or MODEL_ID_TAG in tags:
        raise InvalidParameter(f"Tag(s) {', '.join(reserved or [MODEL_ID_TAG])} are written "
                               "by the registry itself; choose another key.")
    if model_id is not None:
        tags[MODEL_ID_TAG] = model_id
    client = call.state.client
    check_is_model(source, client)
    existed = _exists(call, name)
    version = call.state.registry.create_model_version(
        name, source, run_id, call.user, tags, call.text("description", required=False))
    if not existed:
        grant_creator(call, "registered_model", name)
    return {"model_version": js.model_version(version, call.state)}


def get_model_version(call: Call) -> dict[str, Any]:
    version = reg.get_model_version(call.text("name"), _version(call), client=call.state.client)
    if version.deleted:
        raise NotFound(f"Version {version.version} of {version.name!r} is deleted.")
    return {"model_version": js.model_version(version, call.state)}


def update_model_version(call: Call) -> dict[str, Any]:
    description = call.text("description", required=False)
    if description is not None:
        reg.update_model_version(call.text("name"), _version(call), description,
                                 client=call.state.client)
    return get_model_version(call)


def transition_stage(call: Call) -> dict[str, Any]:
    result = reg.transition_stage(call.text("name"), _version(call), call.text("stage"),
                                  archive_existing=call.boolean("archive_existing_versions"),
                                  comment=call.text("comment", required=False),
                                  client=call.state.client)
    version = reg.get_model_version(call.text("name"), _version(call), client=call.state.client)
    out: dict[str, Any] = {"model_version": js.model_version(version, call.state)}
    if not hasattr(result, "current_stage"):  # approval needed: a request was opened
        out["mltrack_request_id"] = result.request_id
    return out


def delete_model_version(call: Call) -> dict[str, Any]:
    reg.delete_model_version(call.text("name"), _version(call), client=call.state.client)
    return {}


def search_model_versions(call: Call) -> dict[str, Any]:
    page = reg.search_model_versions(
        _without_prompt_clause(call.text("filter", required=False)),
        call.integer("max_results", 1000, low=1, high=200_000),
        call.strings("order_by") or None, call.text("page_token", required=False),
        client=call.state.client)
    allowed = set(readable(call, "registered_model", {v.name for v in page.items}))
    return {"model_versions": [js.model_version(v, call.state) for v in page.items
                               if v.name in allowed],
            **({"next_page_token": page.next_page_token} if page.next_page_token else {})}


def download_uri(call: Call) -> dict[str, Any]:
    version = reg.get_model_version(call.text("name"), _version(call), client=call.state.client)
    source = version.source
    if source.startswith("runs:/"):
        from ..registry.versions import artifact_location

        source = artifact_location(source, call.state.client)
    return {"artifact_uri": call.state.to_client(source)}


def set_model_tag(call: Call) -> dict[str, Any]:
    reg.set_registered_model_tag(call.text("name"), call.text("key"),
                                 call.text("value", required=False, default=""),
                                 client=call.state.client)
    return {}


def delete_model_tag(call: Call) -> dict[str, Any]:
    reg.delete_registered_model_tag(call.text("name"), call.text("key"),
                                    client=call.state.client)
    return {}


def set_version_tag(call: Call) -> dict[str, Any]:
    reg.set_model_version_tag(call.text("name"), _version(call), call.text("key"),
                              call.text("value", required=False, default=""),
                              client=call.state.client)
    return {}


def delete_version_tag(call: Call) -> dict[str, Any]:
    reg.delete_model_version_tag(call.text("name"), _version(call), call.text("key"),
                                 client=call.state.client)
    return {}


def set_alias(call: Call) -> dict[str, Any]:
    reg.set_alias(call.text("name"), call.text("alias"), _version(call),
                  client=call.state.client)
    return {}


def delete_alias(call: Call) -> dict[str, Any]:
    reg.delete_alias(call.text("name"), call.text("alias"), client=call.state.client)
    return {}


def get_by_alias(call: Call) -> dict[str, Any]:
    version = reg.get_model_version_by_alias(call.text("name"), call.text("alias"),
                                             client=call.state.client)
    return {"model_version": js.model_version(version, call.state)}


RM = f"{P}/registered-models"
MV = f"{P}/model-versions"
NV = ("name!", "version!")
ROUTES = [
    Route("POST", f"{RM}/create", create_registered_model, ANY_USER,
          "Create a registered model", params("name!", ("tags", "array"), "description"),
          tag="registry"),
    Route("POST", f"{RM}/rename", rename_registered_model, on_model("MANAGE"),
          "Rename a registered model (its permissions follow)",
          params("name!", "new_name!"), tag="registry"),
    Route("PATCH", f"{RM}/update", update_registered_model, on_model("EDIT"),
          "Update a registered model", params("name!", "description"), tag="registry"),
    Route("DELETE", f"{RM}/delete", delete_registered_model, on_model("MANAGE"),
          "Delete a registered model with its versions and permissions", params("name!"),
          tag="registry"),
    Route("GET", f"{RM}/get", get_registered_model, on_model("READ"),
          "Get a registered model", params("name!"), tag="registry"),
    Route("GET", f"{RM}/search", search_registered_models, ANY_USER,
          "Search registered models", params("filter", ("max_results", "integer"),
                                             ("order_by", "array"), "page_token"),
          tag="registry"),
    Route("POST", f"{RM}/get-latest-versions", latest_versions, on_model("READ"),
          "Latest version per stage", params("name!", ("stages", "array")), tag="registry"),
    Route("GET", f"{RM}/get-latest-versions", latest_versions, on_model("READ"),
          "Latest version per stage", params("name!", ("stages", "array")), tag="registry"),
    Route("POST", f"{MV}/create", create_model_version, on_model("EDIT", may_create=True),
          "Register a model version", params("name!", "source!", "run_id", ("tags", "array"),
                                             "run_link", "description", "model_id"),
          tag="registry"),
    Route("PATCH", f"{MV}/update", update_model_version, on_model("EDIT"),
          "Update a model version", params(*NV, "description"), tag="registry"),
    Route("POST", f"{MV}/transition-stage", transition_stage, on_model("EDIT"),
          "Move a version to a stage", params(*NV, "stage!", ("archive_existing_versions",
                                                              "boolean"), "comment"),
          tag="registry"),
    Route("DELETE", f"{MV}/delete", delete_model_version, on_model("MANAGE"),
          "Delete a model version", params(*NV), tag="registry"),
    Route("GET", f"{MV}/get", get_model_version, on_model("READ"), "Get a model version",
          params(*NV), tag="registry"),
    Route("GET", f"{MV}/search", search_model_versions, ANY_USER, "Search model versions",
          params("filter", ("max_results", "integer"), ("order_by", "array"), "page_token"),
          tag="registry"),
    Route("GET", f"{MV}/get-download-uri", download_uri, on_model("READ"),
          "Where a version's files are", params(*NV), tag="registry"),
    Route("POST", f"{RM}/set-tag", set_model_tag, on_model("EDIT"),
          "Set a registered model tag", params("name!", "key!", "value"), tag="registry"),
    Route("POST", f"{MV}/set-tag", set_version_tag, on_model("EDIT"),
          "Set a model version tag", params(*NV, "key!", "value"), tag="registry"),
    Route("DELETE", f"{RM}/delete-tag", delete_model_tag, on_model("EDIT"),
          "Delete a registered model tag", params("name!", "key!"), tag="registry"),
    Route("DELETE", f"{MV}/delete-tag", delete_version_tag, on_model("EDIT"),
          "Delete a model version tag", params(*NV, "key!"), tag="registry"),
    Route("POST", f"{RM}/alias", set_alias, on_model("EDIT"), "Point an alias at a version",
          params("name!", "alias!", "version!"), tag="registry"),
    Route("DELETE", f"{RM}/alias", delete_alias, on_model("EDIT"), "Delete an alias",
          params("name!", "alias!"), tag="registry"),
    Route("GET", f"{RM}/alias", get_by_alias, on_model("READ"), "The version of an alias",
          params("name!", "alias!"), tag="registry"),
]
