"""MLflow's tracking routes: experiments, runs, params, tags, metrics, search."""

from __future__ import annotations

import json
import re
import time
from array import array
from typing import Any

from ..entities import Dataset, DatasetInput, InputTag, Metric, RunStatus, ViewType
from ..errors import ExperimentNotFound, InvalidParameter
from ..store.protocols import (
    HEARTBEAT_INTERVAL_TAG,
    MetricBatch,
    MetricSeries,
    WritesMetricBatches,
)
from ..tracking import validation as v
from . import mlflow_json as js
from .auth import grant_creator, readable, require
from .http import Call, HttpError, PermissionDenied
from .routes import ANY_USER, Route, on_experiment, on_run, params

P = "/api/2.0/mlflow"
#: MLflow clients send experiment "0" when none is set: it is the "Default" experiment.
DEFAULT_EXPERIMENT = "Default"
#: Runs made through the REST API send no heartbeat: they are never taken as dead.
NO_HEARTBEAT = str(float(10 * 365 * 24 * 3600))


def _now() -> int:
    return time.time_ns() // 1_000_000


def experiment_id(call: Call, name: str = "experiment_id") -> str:
    """The experiment id of the request ("0" is the Default experiment)."""
    value = call.text(name)
    if value == "0":
        return str(call.state.store.get_or_create_experiment(DEFAULT_EXPERIMENT))
    return str(value)


def _view(call: Call, name: str) -> ViewType:
    raw = call.text(name, required=False, default="ACTIVE_ONLY")
    try:
        return ViewType(js.VIEW_TYPES[str(raw).upper()])
    except KeyError:
        raise InvalidParameter(f"Unknown {name} {raw!r}; use ACTIVE_ONLY, DELETED_ONLY or "
                               "ALL.") from None


# -- experiments ----------------------------------------------------------------------

def create_experiment(call: Call) -> dict[str, Any]:
    name = v.name_value(call.text("name"), "experiment name")
    location = call.text("artifact_location", required=False)
    tags = {v.validate_key(k, "tag key"): v.tag_value(x) for k, x in call.pairs("tags").items()}
    if location and call.state.config.auth_enabled and not call.principal.is_admin:
        raise PermissionDenied("Only an admin may choose an experiment's artifact location; "
                               "leave it out and the server picks one.")
    real = call.state.from_client(location) if location else None
    exp_id = call.state.store.create_experiment(name, real, tags)
    grant_creator(call, "experiment", str(exp_id))
    return {"experiment_id": str(exp_id)}


def get_experiment(call: Call) -> dict[str, Any]:
    exp = call.state.store.get_experiment(experiment_id(call))
    return {"experiment": js.experiment(exp, call.state)}


def get_experiment_by_name(call: Call) -> dict[str, Any]:
    name = call.text("experiment_name")
    exp = call.state.store.get_experiment_by_name(name)
    if exp is None and name == DEFAULT_EXPERIMENT:
        exp = call.state.store.get_experiment(
            call.state.store.get_or_create_experiment(DEFAULT_EXPERIMENT))
    if exp is None:
        raise ExperimentNotFound(f"No experiment named {name!r}.")
    require(call, "experiment", exp.experiment_id, "READ")
    return {"experiment": js.experiment(exp, call.state)}


_CONDITION = re.compile(
    r"""\s*(?:attributes\.|attribute\.)?(?P<key>name|tags?\.(?:`[^`]+`|"[^"]+"|[\w.\-]+))\s*
        (?P<op>=|!=|ILIKE|LIKE)\s*(?P<q>['"])(?P<value>.*?)(?P=q)\s*""",
    re.IGNORECASE | re.VERBOSE)


def search_experiments(call: Call) -> dict[str, Any]:
    """The store's experiment search (MLflow's filter and order grammar), then only those
    the caller may read: a page can come back shorter than ``max_results``."""
    page = call.state.store.search_experiments(
        _view(call, "view_type"), call.integer("max_results", 1000, low=1, high=50_000),
        call.text("filter", required=False) or None, call.strings("order_by") or None,
        call.text("page_token", required=False) or None)
    found = list(page)
    allowed = set(readable(call, "experiment", [e.experiment_id for e in found]))
    token = page.next_page_token
    return {"experiments": [js.experiment(e, call.state) for e in found
                            if e.experiment_id in allowed],
            **({"next_page_token": token} if token else {})}


def update_experiment(call: Call) -> dict[str, Any]:
    call.state.store.rename_experiment(experiment_id(call), call.text("new_name"))
    return {}


def delete_experiment(call: Call) -> dict[str, Any]:
    call.state.store.set_experiment_lifecycle(experiment_id(call), deleted=True)
    return {}


def restore_experiment(call: Call) -> dict[str, Any]:
    call.state.store.set_experiment_lifecycle(experiment_id(call), deleted=False)
    return {}


def not_supported(what: str) -> Any:
    def handler(call: Call) -> dict[str, Any]:
        raise HttpError(501, "NOT_IMPLEMENTED", f"{what} is not supported by this server.")
    return handler


def delete_experiment_tag(call: Call) -> dict[str, Any]:
    call.state.store.delete_experiment_tag(experiment_id(call), call.text("key"))
    return {}


def set_experiment_tag(call: Call) -> dict[str, Any]:
    call.state.store.set_experiment_tag(experiment_id(call),
                                        v.validate_key(call.text("key"), "tag key"),
                                        v.tag_value(call.text("value", required=False,
                                                              default="")))
    return {}


# -- runs -----------------------------------------------------------------------------

def _run_id(call: Call) -> str:
    return call.text("run_id", required=False) or call.text("run_uuid")


def create_run(call: Call) -> dict[str, Any]:
    exp_id = experiment_id(call)
    tags = {v.validate_key(k, "tag key"): v.tag_value(x) for k, x in call.pairs("tags").items()}
    user = call.user if call.principal.authenticated else \
        (call.text("user_id", required=False) or tags.get("mlflow.user") or call.user)
    if call.principal.authenticated:
        tags["mlflow.user"] = user
    name = call.text("run_name", required=False) or tags.get("mlflow.runName")
    if name is None:
        from ..tracking.client import random_run_name

        name = random_run_name()
    tags.setdefault("mlflow.runName", v.name_value(name))
    tags[HEARTBEAT_INTERVAL_TAG] = NO_HEARTBEAT
    start = call.integer("start_time", None) or _now()
    info = call.state.store.create_run(exp_id, name, start, user,
                                       parent_run_id=tags.get("mlflow.parentRunId"), tags=tags)
    return {"run": js.run(call.state.store.get_run(info.run_id), call.state)}


def update_run(call: Call) -> dict[str, Any]:
    run_id = _run_id(call)
    status = call.text("status", required=False)
    if status is not None:
        status = RunStatus.parse(status).value
    name = call.text("run_name", required=False)
    if name is not None:
        v.name_value(name)
    end = call.integer("end_time", None)
    store = call.state.store
    store.update_run(run_id, status=status, end_time=end, run_name=name)
    if name is not None:
        store.log_batch(run_id, tags={"mlflow.runName": name})
    return {"run_info": js.run(store.get_run(run_id), call.state)["info"]}


def delete_run(call: Call) -> dict[str, Any]:
    call.state.store.set_run_lifecycle(_run_id(call), deleted=True)
    return {}


def restore_run(call: Call) -> dict[str, Any]:
    call.state.store.set_run_lifecycle(_run_id(call), deleted=False)
    return {}


def _outputs(call: Call, run_id: str) -> list[str]:
    models, _ = call.state.server_store.search_logged_models([], 100, source_run_id=run_id)
    return [m.model_id for m in models]


def get_run(call: Call) -> dict[str, Any]:
    run_id = _run_id(call)
    run = call.state.store.get_run(run_id)
    return {"run": js.run(run, call.state, _outputs(call, run_id))}


def _metric(item: Any) -> Metric:
    if not isinstance(item, dict):
        raise InvalidParameter("Each metric is an object with key, value, timestamp, step.")
    key = v.validate_key(item.get("key"), "metric key")
    raw = item.get("value")
    if isinstance(raw, str) and raw in ("NaN", "Infinity", "-Infinity"):
        raw = float(raw.replace("Infinity", "inf"))
    value = v.metric_value(key, raw)
    timestamp = item.get("timestamp")
    return Metric(key, value, v.timestamp_value(_now() if timestamp is None else timestamp, key),
                  v.step_value(item.get("step") or 0, key))


def metric_series(raw: list[Any]) -> list[MetricSeries]:
    """The batch's metrics as one series per key, validated. The usual shape (objects with
    a key, a value, a step and a timestamp) is checked a column at a time; any other goes
    through :func:`_metric` point by point (defaults, conversions, the error to show)."""
    if raw and set(map(type, raw)) == {dict}:
        keys = [item.get("key") for item in raw]
        steps = [item.get("step") for item in raw]
        stamps = [item.get("timestamp") for item in raw]
        if None not in steps and None not in stamps and set(map(type, keys)) == {str}:
            values = [item.get("value") for item in raw]
            distinct = {v.validate_key(key, "metric key") for key in set(keys)}
            if len(distinct) == 1:
                key = keys[0]
                return [MetricSeries(key, *v.metric_columns(key, steps, values, stamps))]
            return [MetricSeries(key, *v.metric_columns(key, *cols))
                    for key, cols in _by_key(keys, steps, values, stamps).items()]
    metrics = [_metric(item) for item in raw]
    return [MetricSeries(key, array("q", s), array("d", val), array("q", ts))
            for key, (s, val, ts) in _by_key([m.key for m in metrics],
                                            [m.step for m in metrics],
                                            [m.value for m in metrics],
                                            [m.timestamp for m in metrics]).items()]


def _by_key(keys: list[Any], *columns: list[Any]) -> dict[str, tuple[list[Any], ...]]:
    """Columns split by key, in the order the points came."""
    out: dict[str, tuple[list[Any], ...]] = {}
    for i, key in enumerate(keys):
        cols = out.get(key)
        if cols is None:
            cols = out[key] = tuple([] for _ in columns)
        for col, source in zip(cols, columns, strict=True):
            col.append(source[i])
    return out


def series_metrics(series: list[MetricSeries]) -> list[Metric]:
    """The points of series as Metric objects."""
    return [Metric(s.key, value, ts, step) for s in series
            for step, value, ts in zip(s.steps, s.values, s.timestamps, strict=True)]


def _log(call: Call, run_id: str, metrics: list[Metric], params_: dict[str, Any],
         tags: dict[str, Any]) -> None:
    if len(metrics) + len(params_) + len(tags) > 1000 + 100 + 100:
        raise InvalidParameter("A batch holds at most 1000 metrics, 100 params and 100 tags.")
    clean_params = {v.validate_key(k, "param key"): v.param_value(x) for k, x in params_.items()}
    clean_tags = {v.validate_key(k, "tag key"): v.tag_value(x) for k, x in tags.items()}
    v.refuse_reserved_tags(clean_tags)
    # the store refuses a missing or deleted run inside its write transaction
    call.state.store.log_batch(run_id, metrics, clean_params, clean_tags)


def log_metric(call: Call) -> dict[str, Any]:
    metric = _metric({"key": call.text("key"), "value": call.get("value"),
                      "timestamp": call.integer("timestamp", None, low=-2 ** 63),
                      "step": call.integer("step", 0, low=-2 ** 63)})
    _log(call, _run_id(call), [metric], {}, {})
    return {}


def log_param(call: Call) -> dict[str, Any]:
    _log(call, _run_id(call), [], {call.text("key"): call.text("value", required=False,
                                                                 default="")}, {})
    return {}


def set_tag(call: Call) -> dict[str, Any]:
    _log(call, _run_id(call), [], {}, {call.text("key"): call.text("value", required=False,
                                                                     default="")})
    return {}


def delete_tag(call: Call) -> dict[str, Any]:
    key = call.text("key")
    v.refuse_reserved_tags({key: ""})
    call.state.store.delete_tag(_run_id(call), key)
    return {}


def log_batch(call: Call) -> dict[str, Any]:
    raw = call.get("metrics", [])
    if not isinstance(raw, list):
        raise InvalidParameter("'metrics' must be a list.")
    series = metric_series(raw)
    params_, tags = call.pairs("params"), call.pairs("tags")
    store = call.state.store
    if raw and not params_ and not tags and len(raw) <= 1000 \
            and isinstance(store, WritesMetricBatches):
        # the usual batch: columns straight into the store, the run checked there
        store.write_metric_batches([MetricBatch(_run_id(call), series)])
        return {}
    _log(call, _run_id(call), series_metrics(series), params_, tags)
    return {}


def log_model(call: Call) -> dict[str, Any]:
    run_id = _run_id(call)
    text = call.text("model_json")
    try:
        model = json.loads(text)
    except ValueError:
        raise InvalidParameter("'model_json' must be a JSON object.") from None
    run = call.state.store.get_run(run_id)
    history = json.loads(run.data.tags.get("mlflow.log-model.history", "[]"))
    history.append(model)
    _log(call, run_id, [], {}, {"mlflow.log-model.history": json.dumps(history)[:8000]})
    return {}


def log_inputs(call: Call) -> dict[str, Any]:
    datasets = call.get("datasets", [])
    if not isinstance(datasets, list):
        raise InvalidParameter("'datasets' must be a list.")
    call.state.store.log_inputs(_run_id(call), [dataset_input(item) for item in datasets])
    return {}


def dataset_input(item: Any) -> DatasetInput:
    """One of MLflow's ``DatasetInput`` objects, checked."""
    dataset = item.get("dataset") if isinstance(item, dict) else None
    if not isinstance(dataset, dict):
        raise InvalidParameter("Each dataset input needs a 'dataset' object.")
    fields = {}
    for key, required in (("name", True), ("digest", True), ("source_type", True),
                          ("source", True), ("schema", False), ("profile", False)):
        value = dataset.get(key)
        if value is None and not required:
            continue
        if not isinstance(value, str) or (required and not value):
            raise InvalidParameter(f"A dataset's {key!r} must be a non-empty string.")
        fields[key] = value
    tags = item.get("tags") or []
    if not isinstance(tags, list) or not all(
            isinstance(t, dict) and isinstance(t.get("key"), str)
            and isinstance(t.get("value"), str) for t in tags):
        raise InvalidParameter("A dataset input's 'tags' is a list of {key, value} strings.")
    return DatasetInput(Dataset(**fields),
                        tuple(InputTag(t["key"], t["value"]) for t in tags))


def log_outputs(call: Call) -> dict[str, Any]:
    call.state.store.get_run(_run_id(call))
    return {}


def search_runs(call: Call) -> dict[str, Any]:
    ids = [("0" if e == "0" else e) for e in call.strings("experiment_ids")]
    ids = [str(call.state.store.get_or_create_experiment(DEFAULT_EXPERIMENT))
           if e == "0" else e for e in ids]
    if not ids:
        ids = [e.experiment_id for e in call.state.store.search_experiments(ViewType.ALL, 50_000)]
        ids = readable(call, "experiment", ids) or ["-1"]
    else:
        for exp in ids:
            require(call, "experiment", exp, "READ")
    limit = call.integer("max_results", 1000, low=1, high=50_000)
    page = call.state.store.search_runs(
        ids, call.text("filter", required=False), _view(call, "run_view_type"), limit,
        call.strings("order_by") or None, call.text("page_token", required=False))
    return {"runs": [js.run(r, call.state) for r in page.items],
            **({"next_page_token": page.next_page_token} if page.next_page_token else {})}


def metric_history(call: Call) -> dict[str, Any]:
    key = call.text("metric_key")
    frame = call.state.store.get_metric_history(_run_id(call), key)
    points = [{"key": key, "value": val, "timestamp": ts, "step": st} for st, val, ts in zip(
        frame["step"].to_numpy().tolist(), frame["value"].to_numpy().tolist(),
        frame["timestamp"].to_numpy().tolist(), strict=True)]
    return {"metrics": points}


RUN = ("run_id!",)
ROUTES = [
    Route("POST", f"{P}/experiments/create", create_experiment, ANY_USER,
          "Create an experiment", params("name!", "artifact_location", ("tags", "array"))),
    Route("GET", f"{P}/experiments/get", get_experiment, on_experiment("READ"),
          "Get an experiment", params("experiment_id!")),
    Route("GET", f"{P}/experiments/get-by-name", get_experiment_by_name, ANY_USER,
          "Get an experiment by name", params("experiment_name!")),
    Route("POST", f"{P}/experiments/search", search_experiments, ANY_USER,
          "Search experiments", params("view_type", ("max_results", "integer"), "filter",
                                       ("order_by", "array"), "page_token")),
    Route("GET", f"{P}/experiments/search", search_experiments, ANY_USER,
          "Search experiments", params("view_type", ("max_results", "integer"), "filter",
                                       ("order_by", "array"), "page_token")),
    Route("POST", f"{P}/experiments/delete", delete_experiment, on_experiment("MANAGE"),
          "Delete an experiment", params("experiment_id!")),
    Route("POST", f"{P}/experiments/restore", restore_experiment, on_experiment("MANAGE"),
          "Restore an experiment", params("experiment_id!")),
    Route("POST", f"{P}/experiments/update", update_experiment,
          on_experiment("EDIT"), "Rename an experiment",
          params("experiment_id!", "new_name!")),
    Route("POST", f"{P}/experiments/set-experiment-tag", set_experiment_tag,
          on_experiment("EDIT"), "Set an experiment tag",
          params("experiment_id!", "key!", "value")),
    Route("POST", f"{P}/experiments/delete-experiment-tag", delete_experiment_tag,
          on_experiment("EDIT"), "Delete an experiment tag",
          params("experiment_id!", "key!")),
    Route("POST", f"{P}/runs/create", create_run, on_experiment("EDIT"), "Create a run",
          params("experiment_id!", "user_id", "run_name", ("start_time", "integer"),
                 ("tags", "array"))),
    Route("POST", f"{P}/runs/update", update_run, on_run("EDIT"), "Update a run",
          params(*RUN, "status", ("end_time", "integer"), "run_name")),
    Route("POST", f"{P}/runs/delete", delete_run, on_run("EDIT"), "Delete a run",
          params(*RUN)),
    Route("POST", f"{P}/runs/restore", restore_run, on_run("EDIT"), "Restore a run",
          params(*RUN)),
    Route("POST", f"{P}/runs/log-metric", log_metric, on_run("EDIT"), "Log a metric",
          params(*RUN, "key!", ("value", "number"), ("timestamp", "integer"),
                 ("step", "integer"))),
    Route("POST", f"{P}/runs/log-parameter", log_param, on_run("EDIT"), "Log a param",
          params(*RUN, "key!", "value")),
    Route("POST", f"{P}/runs/set-tag", set_tag, on_run("EDIT"), "Set a run tag",
          params(*RUN, "key!", "value")),
    Route("POST", f"{P}/runs/delete-tag", delete_tag, on_run("EDIT"), "Delete a run tag",
          params(*RUN, "key!")),
    Route("GET", f"{P}/runs/get", get_run, on_run("READ"), "Get a run", params(*RUN)),
    Route("POST", f"{P}/runs/search", search_runs, ANY_USER, "Search runs",
          params(("experiment_ids", "array"), "filter", "run_view_type",
                 ("max_results", "integer"), ("order_by", "array"), "page_token")),
    Route("POST", f"{P}/runs/log-batch", log_batch, on_run("EDIT"),
          "Log metrics, params and tags", params(*RUN, ("metrics", "array"),
                                                 ("params", "array"), ("tags", "array"))),
    Route("POST", f"{P}/runs/log-model", log_model, on_run("EDIT"),
          "Record a logged model's metadata on its run", params(*RUN, "model_json!")),
    Route("POST", f"{P}/runs/log-inputs", log_inputs, on_run("EDIT"),
          "Record a run's dataset inputs", params(*RUN, ("datasets", "array"),
                                                  ("models", "array"))),
    Route("POST", f"{P}/runs/outputs", log_outputs, on_run("EDIT"),
          "Record a run's model outputs", params(*RUN, ("models", "array"))),
    Route("GET", f"{P}/metrics/get-history", metric_history, on_run("READ"),
          "Every point of one metric", params(*RUN, "metric_key!",
                                              ("max_results", "integer"), "page_token")),
]
