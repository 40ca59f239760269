"""``/api/2.0/mltrack/...`` registry routes for the remote store (``store/rest_registry``).

MLflow's registry routes speak MLflow's JSON, which drops what our registry keeps
(deleted versions, requests, the audit of who changed what). These routes carry our
entities field for field, so ``MLTRACK_TRACKING_URI=http://...`` gives the same
registry API as a local store. Changes under the model's lock arrive as a named plan
(``registry/plans.py``) that the server rebuilds and runs itself, as the signed-in
user: policies, gates and approvals are checked here, never trusted from a client.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ..errors import InvalidParameter
from ..models import model_files_digest
from ..models.provenance import (
    RESERVED_VERSION_TAG_PREFIX,
    VERSION_DIGEST_TAG,
    VERSION_ORIGIN_TAG,
)
from ..registry.plans import make_plan
from ..registry.registered import clean_tags
from ..registry.validation import model_name, version_number
from ..registry.versions import artifact_location, check_is_model
from .auth import grant_creator, readable, require
from .http import Call
from .registry_api import MODEL_ID_TAG, _exists
from .registry_api import _source as version_source
from .routes import ANY_USER, Access, Route, on_model, params

M = "/api/2.0/mltrack"


def _version_json(call: Call, version: Any) -> dict[str, Any]:
    out = asdict(version)
    out["source"] = call.state.to_client(version.source)
    return out


def _model_json(call: Call, model: Any) -> dict[str, Any]:
    out = asdict(model)
    out["latest_versions"] = [_version_json(call, v) for v in model.latest_versions]
    return out


def get_model(call: Call) -> dict[str, Any]:
    model = call.state.registry.get_registered_model(model_name(call.text("name")))
    return {"registered_model": _model_json(call, model)}


def search_models(call: Call) -> dict[str, Any]:
    page = call.state.registry.search_registered_models(
        call.text("filter", required=False),
        call.integer("max_results", 1000, low=1, high=100_000),
        call.strings("order_by") or None, call.text("page_token", required=False))
    allowed = set(readable(call, "registered_model", [m.name for m in page.items]))
    return {"registered_models": [_model_json(call, m) for m in page.items
                                  if m.name in allowed],
            "next_page_token": page.next_page_token}


def update_model(call: Call) -> dict[str, Any]:
    call.state.registry.update_registered_model(
        model_name(call.text("name")), call.text("description", required=False),
        _tag_map(call, "set_tags"), call.strings("delete_tags"))
    return {}


def get_version(call: Call) -> dict[str, Any]:
    version = call.state.registry.get_model_version(model_name(call.text("name")),
                                                    version_number(call.text("version")))
    return {"model_version": _version_json(call, version)}


def search_versions(call: Call) -> dict[str, Any]:
    page = call.state.registry.search_model_versions(
        call.text("filter", required=False),
        call.integer("max_results", 1000, low=1, high=200_000),
        call.strings("order_by") or None, call.text("page_token", required=False),
        call.boolean("include_deleted"))
    allowed = set(readable(call, "registered_model", {v.name for v in page.items}))
    return {"model_versions": [_version_json(call, v) for v in page.items
                               if v.name in allowed],
            "next_page_token": page.next_page_token}


def update_version(call: Call) -> dict[str, Any]:
    tags = _tag_map(call, "set_tags")
    deleted = call.strings("delete_tags")
    _refuse_reserved([*tags, *deleted])
    call.state.registry.update_model_version(
        model_name(call.text("name")), version_number(call.text("version")),
        call.text("description", required=False), tags, deleted)
    return {}


def create_version(call: Call) -> dict[str, Any]:
    """A new version, with the provenance tags ``register_model`` pins: the digest of
    trusted files is recomputed here and must match (a client cannot vouch for files
    it did not send), the origin of a copy is kept as told."""
    name = model_name(call.text("name"))
    run_id = call.text("run_id", required=False)
    source, _ = version_source(call, call.text("source"), None)
    if source.startswith("runs:/"):
        run_id = run_id or source[len("runs:/"):].split("/", 1)[0]
    if run_id is not None:
        require(call, "experiment", call.state.store.get_run(run_id).info.experiment_id,
                "READ")
    tags = clean_tags(_tag_map(call, "tags"))
    pins = {k: tags.pop(k) for k in (VERSION_DIGEST_TAG, VERSION_ORIGIN_TAG) if k in tags}
    _refuse_reserved(tags)
    client = call.state.client
    check_is_model(source, client)
    if VERSION_ORIGIN_TAG in pins and source.startswith("runs:/"):
        raise InvalidParameter(f"{VERSION_ORIGIN_TAG} marks a copy registered from outside "
                               "the store; a run's model has no origin to pin.")
    if VERSION_DIGEST_TAG in pins:
        digest = model_files_digest(artifact_location(source, client), client=client,
                                    progress=False)
        if digest != pins[VERSION_DIGEST_TAG]:
            raise InvalidParameter(
                f"The files of {call.state.to_client(source)} are not the ones the client "
                "vouched for (their digest differs): they changed since, or did not arrive "
                "whole. Register again.")
    existed = _exists(call, name)
    version = call.state.registry.create_model_version(
        name, source, run_id, call.user, {**tags, **pins},
        call.text("description", required=False))
    if not existed:
        grant_creator(call, "registered_model", name)
    return {"model_version": _version_json(call, version)}


def change(call: Call) -> dict[str, Any]:
    """Run a named registry operation under the model's lock, as the signed-in user."""
    plan = make_plan(call.text("plan"), call.text("name"), call.get("args", {}),
                     user=call.user, client=call.state.client)
    level = plan.permission()
    if level != "EDIT":
        require(call, "registered_model", plan.name, level)
    results = call.state.registry.change_registry(plan.name, plan, call.user)
    return {"results": results, "out": plan.out}


def list_requests(call: Call) -> dict[str, Any]:
    name = call.text("name", required=False)
    status = call.text("status", required=False)
    found = call.state.registry.transition_requests(
        None if name is None else model_name(name),
        None if status is None or status.upper() == "ALL" else status.upper())
    allowed = set(readable(call, "registered_model", {r.name for r in found}))
    return {"requests": [asdict(r) for r in found if r.name in allowed]}


def get_request(call: Call) -> dict[str, Any]:
    return {"request": asdict(_request(call))}


def _request(call: Call) -> Any:
    number = call.integer("request_id", None, low=1)
    if number is None:
        raise InvalidParameter("Missing value for required parameter 'request_id'.")
    return call.state.registry.get_transition_request(number)


def _request_model(call: Call) -> str | None:
    return str(_request(call).name)


def _tag_map(call: Call, name: str) -> dict[str, str]:
    value = call.get(name) or {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise InvalidParameter(f"'{name}' is a JSON object of string tags.")
    return {str(k): v for k, v in value.items()}


def _refuse_reserved(keys: Any) -> None:
    reserved = sorted(k for k in keys
                      if k.startswith(RESERVED_VERSION_TAG_PREFIX) or k == MODEL_ID_TAG)
    if reserved:
        raise InvalidParameter(f"Tag(s) {', '.join(reserved)} are written by the registry "
                               "itself; choose another key.")


RM = f"{M}/registered-models"
MV = f"{M}/model-versions"
ROUTES = [
    Route("GET", f"{RM}/get", get_model, on_model("READ"),
          "A registered model, field for field", params("name!"), tag="mltrack"),
    Route("GET", f"{RM}/search", search_models, ANY_USER,
          "Registered models (those the caller may read)",
          params("filter", ("max_results", "integer"), ("order_by", "array"), "page_token"),
          tag="mltrack"),
    Route("POST", f"{RM}/update", update_model, on_model("EDIT"),
          "Description and tags of a registered model",
          params("name!", "description", ("set_tags", "object"), ("delete_tags", "array")),
          tag="mltrack"),
    Route("POST", f"{RM}/change", change, on_model("EDIT"),
          "Run a registry operation (transition_stage, rollback, set_alias, delete_alias, "
          "request_transition, decide, set_policy, delete_policy, delete_version, "
          "restore_version) under the model's lock; MANAGE for policies, deletions and "
          "decisions on others' requests",
          params("name!", "plan!", ("args", "object")), tag="mltrack"),
    Route("POST", f"{MV}/create", create_version, on_model("EDIT", may_create=True),
          "Register a version, with the provenance tags register_model pins",
          params("name!", "source!", "run_id", ("tags", "object"), "description"),
          tag="mltrack"),
    Route("GET", f"{MV}/get", get_version, on_model("READ"),
          "A model version, deleted ones included", params("name!", "version!"),
          tag="mltrack"),
    Route("GET", f"{MV}/search", search_versions, ANY_USER,
          "Model versions (of models the caller may read)",
          params("filter", ("max_results", "integer"), ("order_by", "array"), "page_token",
                 ("include_deleted", "boolean")), tag="mltrack"),
    Route("POST", f"{MV}/update", update_version, on_model("EDIT"),
          "Description and tags of a model version",
          params("name!", "version!", "description", ("set_tags", "object"),
                 ("delete_tags", "array")), tag="mltrack"),
    Route("GET", f"{M}/transition-requests/list", list_requests, ANY_USER,
          "Transition requests, newest first (of models the caller may read)",
          params("name", "status"), tag="mltrack"),
    Route("GET", f"{M}/transition-requests/get", get_request,
          Access("registered_model", "READ", _request_model), "One transition request",
          params(("request_id", "integer")), tag="mltrack"),
]
