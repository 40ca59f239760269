"""``/api/2.0/mltrack/...``: what MLflow's API lacks.

Run search with OR and parentheses, a run's provenance, a registered model's audit
history, rollback, policies (approval and metric gates), transition requests and their
decisions, and user and permission administration. Every change is made as the
authenticated user.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from .. import registry as reg
from ..errors import InvalidParameter
from ..store.protocols import MetricBatch, MetricSeries, WritesMetricBatches
from ..tracking import validation as v
from . import mlflow_json as js
from .auth import require
from .http import Call
from .routes import ADMIN, ANY_USER, Access, Route, on_model, on_run, params
from .tracking_api import metric_series, search_runs

M = "/api/2.0/mltrack"


def provenance(call: Call) -> dict[str, Any]:
    run = call.state.store.get_run(call.text("run_id"))
    tags = run.data.tags
    return {"run_id": run.info.run_id,
            "provenance": {k: tags[k] for k in sorted(tags)
                           if k.startswith(("mltrack.", "mlflow.source", "mlflow.user"))}}


def _record(record: Any) -> dict[str, Any]:
    return asdict(record)


def history(call: Call) -> dict[str, Any]:
    records = call.state.registry.registry_history(call.text("name"))
    return {"records": [_record(r) for r in records]}


def rollback(call: Call) -> dict[str, Any]:
    version = reg.rollback(call.text("name"), call.text("stage", required=False,
                                                        default="Production"),
                           call.text("comment", required=False), client=call.state.client)
    return {"model_version": js.model_version(version, call.state)}


def get_policy(call: Call) -> dict[str, Any]:
    policy = reg.get_registry_policy(call.text("name"), client=call.state.client)
    return {"policy": None if policy is None else _record(policy)}


def set_policy(call: Call) -> dict[str, Any]:
    gates = call.get("gates", {})
    if not isinstance(gates, dict):
        raise InvalidParameter('"gates" maps metrics.<key> to a condition such as ">= 0.9".')
    policy = reg.set_registry_policy(
        call.text("name"), call.strings("require_approval_for"),
        {str(k): str(x) for k, x in gates.items()}, call.strings("gated_stages"),
        call.boolean("allow_self_approval"), client=call.state.client)
    return {"policy": _record(policy)}


def delete_policy(call: Call) -> dict[str, Any]:
    reg.delete_registry_policy(call.text("name"), client=call.state.client)
    return {}


def list_requests(call: Call) -> dict[str, Any]:
    status = call.text("status", required=False, default="PENDING")
    found = reg.transition_requests(call.text("name"),
                                    None if status.upper() == "ALL" else status,
                                    client=call.state.client)
    return {"requests": [_record(r) for r in found]}


def create_request(call: Call) -> dict[str, Any]:
    request = reg.request_transition(call.text("name"), call.text("version"),
                                     call.text("stage"),
                                     call.boolean("archive_existing_versions"),
                                     call.text("comment", required=False),
                                     client=call.state.client)
    return {"request": _record(request)}


def _request_model(call: Call) -> str | None:
    number = call.integer("request_id", None, low=1)
    if number is None:
        raise InvalidParameter("Missing value for required parameter 'request_id'.")
    return call.state.registry.get_transition_request(number).name


def decide(action: str) -> Any:
    def handler(call: Call) -> dict[str, Any]:
        fn = {"approve": reg.approve, "reject": reg.reject, "cancel": reg.cancel_request}[action]
        request = fn(call.integer("request_id", None, low=1),
                     call.text("comment", required=False), client=call.state.client)
        return {"request": _record(request)}
    return handler


def whoami(call: Call) -> dict[str, Any]:
    return {"username": call.user, "is_admin": call.principal.is_admin,
            "authenticated": call.principal.authenticated}


def create_user(call: Call) -> dict[str, Any]:
    user = call.state.server_store.create_user(call.text("username"), call.text("password"),
                                               call.boolean("is_admin"))
    return {"user": {"username": user.username, "is_admin": user.is_admin}}


def set_permission(call: Call) -> dict[str, Any]:
    kind = call.text("kind")
    resource = call.text("resource")
    if kind not in ("experiment", "registered_model"):
        raise InvalidParameter("'kind' is experiment or registered_model.")
    require(call, kind, resource, "MANAGE")
    username = call.text("username")
    if call.state.server_store.get_user(username) is None:
        raise InvalidParameter(f"No user named {username!r}.")
    call.state.server_store.set_permission(kind, resource, username,
                                           call.text("permission"))
    return {}


def write_metrics(call: Call) -> dict[str, Any]:
    """Metric batches of a remote client, each applied once: a batch whose sequence
    number is not above the one its run last took from that client is skipped. All
    batches of a request are stored in one transaction, or none is."""
    client_id = call.text("client_id")
    if not (0 < len(client_id) <= 64 and client_id.isalnum()):
        raise InvalidParameter("'client_id' is up to 64 letters and digits.")
    raw = call.get("batches", [])
    if not isinstance(raw, list) or not all(isinstance(b, dict) for b in raw):
        raise InvalidParameter("'batches' is a list of {run_id, seq, series} objects.")
    batches = []
    for index, item in enumerate(raw):
        try:
            batches.append(_batch(item))
        except InvalidParameter as exc:
            raise InvalidParameter(f"In batch {index}: {exc}") from None
    store = call.state.store
    if not isinstance(store, WritesMetricBatches):  # pragma: no cover - SQL stores do
        raise InvalidParameter("This server's store cannot take metric batches.")

    def allow(experiment_id: str) -> None:
        require(call, "experiment", experiment_id, "EDIT")
    done = store.write_metric_batches(batches, client_id,
                                      None if call.principal.is_admin else allow)
    return {"applied": sum(done), "skipped": len(done) - sum(done)}


def _batch(item: dict[str, Any]) -> MetricBatch:
    run_id, seq = item.get("run_id"), item.get("seq")
    if not isinstance(run_id, str) or not run_id:
        raise InvalidParameter("Each batch names its run in a string 'run_id'.")
    if seq.__class__ is not int:
        raise InvalidParameter("Each batch has an integer 'seq' (the client's batch number).")
    series, rows = item.get("series"), item.get("metrics")
    if series is not None and rows is not None:
        raise InvalidParameter("A batch has 'series' or 'metrics', not both.")
    if series is not None:
        if not isinstance(series, list):
            raise InvalidParameter("'series' is a list of {key, steps, values, timestamps} "
                                   "objects.")
        return MetricBatch(run_id, [_series(s) for s in series], seq)
    if rows is None:
        raise InvalidParameter(
            "A batch needs 'series': [{key, steps: [...], values: [...], timestamps: "
            "[...]}] (or the first form, 'metrics': [[key, value, step, timestamp], ...]).")
    if not isinstance(rows, list):
        raise InvalidParameter("'metrics' is a list of [key, value, step, timestamp].")
    return MetricBatch(run_id, _row_series(rows), seq)


def _series(item: Any) -> MetricSeries:
    if not isinstance(item, dict):
        raise InvalidParameter("Each item of 'series' is an object {key, steps, values, "
                               "timestamps}.")
    key = v.validate_key(item.get("key"), "metric key")
    return MetricSeries(key, *v.metric_columns(key, item.get("steps"), item.get("values"),
                                               item.get("timestamps")))


def _row_series(rows: list[Any]) -> list[MetricSeries]:
    """The first form, rows of [key, value, step, timestamp] (or MLflow metric objects)."""
    now = time.time_ns() // 1_000_000
    return metric_series([
        {"key": r[0], "value": r[1], "step": 0 if r[2] is None else r[2],
         "timestamp": now if r[3] is None else r[3]}
        if r.__class__ is list and len(r) == 4 else r for r in rows])


def record_model(call: Call) -> dict[str, Any]:
    """The digest tag ``log_model`` writes after uploading a model: recomputed here from
    the files as the server has them, and written only when it matches the client's."""
    from ..artifacts.paths import clean_artifact_path
    from ..entities import digest_tag
    from ..models import model_files_digest

    run = call.state.store.get_run(call.text("run_id"))
    path = clean_artifact_path(call.text("artifact_path"))
    if not path:
        raise InvalidParameter("'artifact_path' names the model's folder in the run, "
                               "e.g. 'model'.")
    claimed = call.text("digest")
    digest = model_files_digest(f"runs:/{run.info.run_id}/{path}", client=call.state.client,
                                progress=False)
    if digest is None or digest != claimed:
        raise InvalidParameter(
            f"The files under {path!r} of run {run.info.run_id} are not the ones log_model "
            "wrote (their digest differs): they changed since, or did not arrive whole. "
            "Log the model again.")
    call.state.store.log_batch(run.info.run_id, tags={digest_tag(path): digest})
    return {"digest": digest}


def _on_request(level: str) -> Access:
    return Access("registered_model", level, _request_model)


ROUTES = [
    Route("POST", f"{M}/runs/search", search_runs, ANY_USER,
          "Search runs; filters may use OR and parentheses",
          params(("experiment_ids", "array"), "filter", "run_view_type",
                 ("max_results", "integer"), ("order_by", "array"), "page_token"),
          tag="mltrack"),
    Route("POST", f"{M}/runs/write-metrics", write_metrics, ANY_USER,
          "Metric batches of several runs, each applied once per (client, seq), all in one "
          "transaction; EDIT on each run's experiment",
          params("client_id!", ("batches", "array", "object"), docs={
              "client_id": "The sending process: up to 64 letters and digits",
              "batches": "[{run_id, seq, series: [{key, steps: [int], values: [number or "
                         "\"NaN\", \"Infinity\", \"-Infinity\"], timestamps: [int ms]}]}]; "
                         "the columns of a series have equal lengths. A batch is applied "
                         "once: a seq not above the run's last one from this client is "
                         "skipped. The first form, metrics: [[key, value, step, timestamp], "
                         "...] instead of series, is still taken"}),
          tag="mltrack"),
    Route("GET", f"{M}/runs/provenance", provenance, on_run("READ"),
          "Where a run came from: notebook, cell, git, environment", params("run_id!"),
          tag="mltrack"),
    Route("GET", f"{M}/registered-models/history", history, on_model("READ"),
          "Every stage, alias, request and policy change of a model", params("name!"),
          tag="mltrack"),
    Route("POST", f"{M}/registered-models/rollback", rollback, on_model("EDIT"),
          "Put back the version that held a stage before", params("name!", "stage",
                                                                  "comment"),
          tag="mltrack"),
    Route("GET", f"{M}/registered-models/policy", get_policy, on_model("READ"),
          "A model's approval and gate policy", params("name!"), tag="mltrack"),
    Route("POST", f"{M}/registered-models/policy", set_policy, on_model("MANAGE"),
          "Set a model's policy", params("name!", ("require_approval_for", "array"),
                                         ("gates", "object"), ("gated_stages", "array"),
                                         ("allow_self_approval", "boolean")),
          tag="mltrack"),
    Route("DELETE", f"{M}/registered-models/policy", delete_policy, on_model("MANAGE"),
          "Remove a model's policy", params("name!"), tag="mltrack"),
    Route("GET", f"{M}/transition-requests", list_requests, on_model("READ"),
          "Transition requests of a model", params("name!", "status"), tag="mltrack"),
    Route("POST", f"{M}/transition-requests/create", create_request, on_model("EDIT"),
          "Ask for a version to enter a stage", params("name!", "version!", "stage!",
                                                       ("archive_existing_versions",
                                                        "boolean"), "comment"),
          tag="mltrack"),
    Route("POST", f"{M}/transition-requests/approve", decide("approve"),
          _on_request("MANAGE"), "Approve a request", params(("request_id", "integer"),
                                                            "comment"), tag="mltrack"),
    Route("POST", f"{M}/transition-requests/reject", decide("reject"),
          _on_request("MANAGE"), "Reject a request", params(("request_id", "integer"),
                                                           "comment"), tag="mltrack"),
    Route("POST", f"{M}/transition-requests/cancel", decide("cancel"),
          _on_request("EDIT"), "Withdraw one's own request",
          params(("request_id", "integer"), "comment"), tag="mltrack"),
    Route("POST", f"{M}/runs/record-model", record_model, on_run("EDIT"),
          "Record the digest of a model log_model uploaded (checked against the files)",
          params("run_id!", "artifact_path!", "digest!"), tag="mltrack"),
    Route("GET", f"{M}/users/me", whoami, ANY_USER, "Who the caller is", tag="mltrack"),
    Route("POST", f"{M}/users/create", create_user, ADMIN, "Create a user (admins)",
          params("username!", "password!", ("is_admin", "boolean")), tag="mltrack"),
    Route("POST", f"{M}/permissions/set", set_permission, ANY_USER,
          "Grant READ, EDIT or MANAGE on an experiment or model (MANAGE holders, admins)",
          params("kind!", "resource!", "username!", "permission!"), tag="mltrack"),
]
