"""The remote registry: the :class:`RegistryStore` protocol over a team server.

Reads and simple writes call the server's ``/api/2.0/mltrack/...`` registry routes,
which carry the registry's entities field for field (MLflow's JSON drops deleted
versions, requests and the audit). A change under a model's lock cannot send a
function: ``change_registry`` takes the plans of ``registry/plans.py`` (each a named
operation with JSON arguments), which the server rebuilds and runs as the signed-in
user, so its policies and approvals hold whatever a client sends. Registry calls need
the server: they are never queued.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._http import HttpSession
from ..entities import (
    ModelVersion,
    PagedList,
    RegisteredModel,
    RegistryPolicy,
    StageTransition,
    TransitionRequest,
)
from ..errors import InvalidState
from .changes import RegistryPlan

M = "/api/2.0/mltrack"
P = "/api/2.0/mlflow"
PROXY = "/api/2.0/mlflow-artifacts/artifacts"


class RestRegistryStore:
    """A :class:`RegistryStore` talking to ``mltrack server``."""

    def __init__(self, http: HttpSession, server: str):
        self.http = http
        self.server = server.rstrip("/")

    # -- registered models --------------------------------------------------------------

    def create_registered_model(self, name: str, user: str, tags: dict[str, str] | None = None,
                                description: str | None = None) -> RegisteredModel:
        """Create a model; the server records the signed-in user, not ``user``."""
        self.http.call("POST", f"{P}/registered-models/create", {
            "name": name, "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()],
            **({"description": description} if description is not None else {})})
        return self.get_registered_model(name)

    def get_registered_model(self, name: str) -> RegisteredModel:
        raw = self.http.call("GET", f"{M}/registered-models/get", {"name": name})
        return self._model(raw["registered_model"])

    def search_registered_models(self, filter_string: str | None = None,
                                 max_results: int = 1000,
                                 order_by: Sequence[str] | None = None,
                                 page_token: str | None = None) -> PagedList:
        raw = self.http.call("GET", f"{M}/registered-models/search", _query(
            filter=filter_string, max_results=max_results, order_by=list(order_by or ()),
            page_token=page_token))
        return PagedList([self._model(m) for m in raw.get("registered_models", ())],
                         raw.get("next_page_token") or None)

    def update_registered_model(self, name: str, description: str | None = None,
                                set_tags: dict[str, str] | None = None,
                                delete_tags: Sequence[str] = ()) -> None:
        self.http.call("POST", f"{M}/registered-models/update", _query(
            name=name, description=description, set_tags=dict(set_tags or {}),
            delete_tags=list(delete_tags)))

    def rename_registered_model(self, name: str, new_name: str) -> None:
        self.http.call("POST", f"{P}/registered-models/rename",
                       {"name": name, "new_name": new_name})

    def delete_registered_model(self, name: str) -> None:
        self.http.call("DELETE", f"{P}/registered-models/delete", {"name": name})

    # -- versions ------------------------------------------------------------------------

    def create_model_version(self, name: str, source: str, run_id: str | None, user: str,
                             tags: dict[str, str] | None = None,
                             description: str | None = None) -> ModelVersion:
        raw = self.http.call("POST", f"{M}/model-versions/create", _query(
            name=name, source=self._to_server(source), run_id=run_id,
            tags=dict(tags or {}), description=description))
        return self._version(raw["model_version"])

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        raw = self.http.call("GET", f"{M}/model-versions/get",
                             {"name": name, "version": str(version)})
        return self._version(raw["model_version"])

    def search_model_versions(self, filter_string: str | None = None,
                              max_results: int = 1000,
                              order_by: Sequence[str] | None = None,
                              page_token: str | None = None,
                              include_deleted: bool = False) -> PagedList:
        raw = self.http.call("GET", f"{M}/model-versions/search", _query(
            filter=filter_string, max_results=max_results, order_by=list(order_by or ()),
            page_token=page_token, include_deleted="true" if include_deleted else None))
        return PagedList([self._version(v) for v in raw.get("model_versions", ())],
                         raw.get("next_page_token") or None)

    def update_model_version(self, name: str, version: int, description: str | None = None,
                             set_tags: dict[str, str] | None = None,
                             delete_tags: Sequence[str] = ()) -> None:
        self.http.call("POST", f"{M}/model-versions/update", _query(
            name=name, version=str(version), description=description,
            set_tags=dict(set_tags or {}), delete_tags=list(delete_tags)))

    # -- audited changes, history, requests, policies ------------------------------------

    def change_registry(self, name: str, plan: RegistryPlan, user: str) -> list[Any]:
        """Send the plan's operation; the server runs it as the signed-in user."""
        wire = getattr(plan, "wire", None)
        if wire is None:
            raise InvalidState(
                "This registry change has no form a team server knows (it is a bare "
                "function, not one of registry/plans.py's operations); make it there.")
        body = wire()
        if body["name"] != name:
            raise InvalidState(f"The plan is for {body['name']!r}, not {name!r}.")
        raw = self.http.call("POST", f"{M}/registered-models/change", body)
        plan.out.update(raw.get("out") or {})  # type: ignore[attr-defined]
        return list(raw.get("results") or [])

    def registry_history(self, name: str) -> list[StageTransition]:
        raw = self.http.call("GET", f"{M}/registered-models/history", {"name": name})
        return [StageTransition(**r) for r in raw.get("records", ())]

    def transition_requests(self, name: str | None = None,
                            status: str | None = None) -> list[TransitionRequest]:
        raw = self.http.call("GET", f"{M}/transition-requests/list",
                             _query(name=name, status=status or "ALL"))
        return [TransitionRequest(**r) for r in raw.get("requests", ())]

    def get_transition_request(self, request_id: int) -> TransitionRequest:
        raw = self.http.call("GET", f"{M}/transition-requests/get",
                             {"request_id": str(int(request_id))})
        return TransitionRequest(**raw["request"])

    def get_registry_policy(self, name: str) -> RegistryPolicy | None:
        raw = self.http.call("GET", f"{M}/registered-models/policy", {"name": name})
        found = raw.get("policy")
        if found is None:
            return None
        return RegistryPolicy(**{**found,
                                 "require_approval_for": tuple(found["require_approval_for"]),
                                 "gated_stages": tuple(found["gated_stages"])})

    # -- the wire form of entities ---------------------------------------------------------

    def _version(self, raw: dict[str, Any]) -> ModelVersion:
        return ModelVersion(**{**raw, "source": self._from_server(raw["source"]),
                               "aliases": tuple(raw.get("aliases") or ())})

    def _model(self, raw: dict[str, Any]) -> RegisteredModel:
        return RegisteredModel(**{
            **raw, "aliases": {str(k): int(v) for k, v in (raw.get("aliases") or {}).items()},
            "latest_versions": tuple(self._version(v) for v in raw.get("latest_versions", ()))})

    def _from_server(self, source: str) -> str:
        """A version's files as this client reaches them: through the artifact proxy."""
        from .rest import proxy_uri

        return proxy_uri(self.server, source)

    def _to_server(self, source: str) -> str:
        """A location behind the artifact proxy as the server names it."""
        prefix = f"{self.server}{PROXY}"
        if source == prefix or source.startswith(prefix + "/"):
            return "mlflow-artifacts:/" + source[len(prefix):].lstrip("/")
        return source


def _query(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}
