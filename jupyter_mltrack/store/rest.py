"""The remote store: the :class:`TrackingStore` protocol over a team server's REST API.

Reads and run creation call MLflow's routes (``/api/2.0/mlflow/...``) and ours
(``/api/2.0/mltrack/...``) and raise when the server is unreachable. Writes of a live
run (metric points, params, tags, run ends) never block training on the network: when
a send fails they go to an on-disk :class:`~.rest_queue.OfflineQueue`, which a
background thread replays with backoff once the server answers again; ``mltrack sync``
pushes what a finished process left behind.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from .._http import HttpSession, ServerUnreachable
from ..entities import (
    Dataset,
    DatasetInput,
    Experiment,
    InputTag,
    Metric,
    PagedList,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    ViewType,
)
from ..errors import (
    ExperimentNotFound,
    InvalidParameter,
    InvalidState,
    NotFound,
    RunNotFound,
)
from .protocols import MetricRow
from .rest_queue import OfflineQueue, QueuedOp

if TYPE_CHECKING:
    import pandas as pd

    from .rest_registry import RestRegistryStore

P = "/api/2.0/mlflow"
M = "/api/2.0/mltrack"
#: Points per metric request (the server takes bodies up to 16 MiB).
BATCH_POINTS = 20_000
_VIEW = {ViewType.ACTIVE_ONLY: "ACTIVE_ONLY", ViewType.DELETED_ONLY: "DELETED_ONLY",
         ViewType.ALL: "ALL"}


def proxy_uri(server: str, location: str) -> str:
    """An ``mlflow-artifacts:`` location as a URL of the server's artifact proxy."""
    if location.startswith("mlflow-artifacts:"):
        rel = location[len("mlflow-artifacts:"):].lstrip("/")
        return f"{server}/api/2.0/mlflow-artifacts/artifacts/{rel}".rstrip("/")
    return location


def _pairs(items: list[dict[str, Any]] | None) -> dict[str, str]:
    return {str(p["key"]): str(p.get("value", "")) for p in items or ()}


def _experiment(raw: dict[str, Any]) -> Experiment:
    return Experiment(str(raw["experiment_id"]), raw["name"], raw.get("artifact_location", ""),
                      raw.get("lifecycle_stage", "active"), raw.get("creation_time"),
                      raw.get("last_update_time"), _pairs(raw.get("tags")))


def _run_info(info: dict[str, Any], tags: dict[str, str]) -> RunInfo:
    return RunInfo(info["run_id"], str(info["experiment_id"]),
                   info.get("run_name") or tags.get("mlflow.runName", ""), info["status"],
                   int(info.get("start_time") or 0),
                   None if info.get("end_time") in (None, 0) else int(info["end_time"]),
                   info.get("lifecycle_stage", "active"), info.get("user_id", ""),
                   info.get("artifact_uri", ""), tags.get("mlflow.parentRunId"))


def vars_of(dataset: Dataset) -> dict[str, Any]:
    return {k: getattr(dataset, k) for k in (
        "name", "digest", "source_type", "source", "schema", "profile")}


def _run(raw: dict[str, Any]) -> Run:
    data = raw.get("data", {})
    tags = _pairs(data.get("tags"))
    metrics = {str(m["key"]): float(m["value"]) for m in data.get("metrics", ())}
    inputs = tuple(
        DatasetInput(Dataset(str(d.get("name", "")), str(d.get("digest", "")),
                             str(d.get("source_type", "")), str(d.get("source", "")),
                             d.get("schema"), d.get("profile")),
            tuple(InputTag(t["key"], t["value"]) for t in item.get("tags") or ()))
        for item in (raw.get("inputs") or {}).get("dataset_inputs") or ()
        for d in [item.get("dataset") or {}])
    return Run(_run_info(raw["info"], tags),
               RunData(params=_pairs(data.get("params")), metrics=metrics, tags=tags),
               RunInputs(inputs))


class RestStore:
    """A :class:`TrackingStore` (and :class:`HasRegistry`) talking to ``mltrack server``."""

    def __init__(self, uri: str, artifact_root: str | None = None, *,
                 queue: OfflineQueue | None = None, replay_interval: float = 1.0):
        self.uri = uri.rstrip("/")
        self.http = HttpSession(self.uri)
        #: where copies of registered folders go: the server's artifact proxy
        self.artifact_root = proxy_uri(self.uri, artifact_root or "mlflow-artifacts:/")
        self.queue = queue or OfflineQueue(self.uri)
        #: this process's id in metric batches; the server applies each (id, seq) once
        self.client_id = uuid.uuid4().hex
        self._seq = 0
        self._seq_lock = threading.Lock()
        self._replay_interval = replay_interval
        self._wake = threading.Event()
        self._closed = False
        self._replayer: threading.Thread | None = None
        if len(self.queue):
            self._start_replayer()

    # -- experiments --------------------------------------------------------------------

    def create_experiment(self, name: str, artifact_location: str | None = None,
                          tags: dict[str, str] | None = None) -> str:
        body: dict[str, Any] = {"name": name, "tags": [{"key": k, "value": v}
                                                       for k, v in (tags or {}).items()]}
        if artifact_location:
            body["artifact_location"] = artifact_location
        return str(self.http.call("POST", f"{P}/experiments/create", body)["experiment_id"])

    def get_or_create_experiment(self, name: str) -> str:
        exp = self.get_experiment_by_name(name)
        if exp is None:
            try:
                return self.create_experiment(name)
            except InvalidParameter:  # created meanwhile by another client
                exp = self.get_experiment_by_name(name)
                if exp is None:
                    raise
        if exp.lifecycle_stage != "active":
            raise InvalidState(f"Experiment {name!r} is deleted; restore it first.")
        return exp.experiment_id

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        self.http.call("POST", f"{P}/experiments/set-experiment-tag",
                       {"experiment_id": experiment_id, "key": key, "value": value})

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        self.http.call("POST", f"{P}/experiments/delete-experiment-tag",
                       {"experiment_id": experiment_id, "key": key})

    def get_experiment(self, experiment_id: str) -> Experiment:
        try:
            raw = self.http.call("GET", f"{P}/experiments/get",
                                 {"experiment_id": experiment_id})
        except NotFound as exc:
            raise ExperimentNotFound(str(exc)) from None
        return _experiment(raw["experiment"])

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        try:
            raw = self.http.call("GET", f"{P}/experiments/get-by-name",
                                 {"experiment_name": name})
        except NotFound:
            return None
        return _experiment(raw["experiment"])

    def search_experiments(self, view_type: ViewType = ViewType.ACTIVE_ONLY,
                           max_results: int = 1000, filter_string: str | None = None,
                           order_by: Sequence[str] | None = None,
                           page_token: str | None = None) -> PagedList:
        raw = self.http.call("POST", f"{P}/experiments/search", {
            "view_type": _VIEW[ViewType.parse(view_type)], "max_results": max_results,
            **({"filter": filter_string} if filter_string else {}),
            **({"order_by": list(order_by)} if order_by else {}),
            **({"page_token": page_token} if page_token else {})})
        return PagedList([_experiment(e) for e in raw.get("experiments", ())],
                         raw.get("next_page_token") or None)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self.http.call("POST", f"{P}/experiments/update",
                       {"experiment_id": experiment_id, "new_name": new_name})

    def set_experiment_lifecycle(self, experiment_id: str, deleted: bool) -> None:
        action = "delete" if deleted else "restore"
        self.http.call("POST", f"{P}/experiments/{action}", {"experiment_id": experiment_id})

    # -- runs ---------------------------------------------------------------------------

    def create_run(self, experiment_id: str, run_name: str, start_time: int, user_id: str,
                   parent_run_id: str | None = None,
                   tags: dict[str, str] | None = None) -> RunInfo:
        all_tags = dict(tags or {})
        all_tags.setdefault("mlflow.runName", run_name)
        if parent_run_id:
            all_tags["mlflow.parentRunId"] = parent_run_id
        raw = self.http.call("POST", f"{P}/runs/create", {
            "experiment_id": experiment_id, "run_name": run_name, "start_time": start_time,
            "user_id": user_id, "tags": [{"key": k, "value": v} for k, v in all_tags.items()]})
        return self._run(raw["run"]).info

    def update_run(self, run_id: str, status: str | None = None, end_time: int | None = None,
                   run_name: str | None = None) -> None:
        body = {"run_id": run_id, "status": status, "end_time": end_time,
                "run_name": run_name}
        self._write("update_run", {k: x for k, x in body.items() if x is not None})

    def set_run_lifecycle(self, run_id: str, deleted: bool) -> None:
        action = "delete" if deleted else "restore"
        self.http.call("POST", f"{P}/runs/{action}", {"run_id": run_id})

    def get_run(self, run_id: str) -> Run:
        try:
            raw = self.http.call("GET", f"{P}/runs/get", {"run_id": run_id})
        except NotFound as exc:
            raise RunNotFound(str(exc)) from None
        return self._run(raw["run"])

    def _run(self, raw: dict[str, Any]) -> Run:
        info = raw.get("info", {})
        if info.get("artifact_uri"):
            info["artifact_uri"] = proxy_uri(self.uri, info["artifact_uri"])
        return _run(raw)

    def log_batch(self, run_id: str, metrics: Sequence[Metric] = (),
                  params: dict[str, str] | None = None,
                  tags: dict[str, str] | None = None) -> None:
        if params or tags:
            self._write("log_batch", {
                "run_id": run_id,
                "params": [{"key": k, "value": v} for k, v in (params or {}).items()],
                "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]})
        if metrics:
            self.write_metrics([(run_id, m.key, m.value, m.step, m.timestamp)
                                for m in metrics])

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        self.http.call("POST", f"{P}/runs/log-inputs", {"run_id": run_id, "datasets": [
            {"tags": [{"key": t.key, "value": t.value} for t in item.tags],
             "dataset": {k: v for k, v in vars_of(item.dataset).items() if v is not None}}
            for item in datasets]})

    def delete_tag(self, run_id: str, key: str) -> None:
        self.http.call("POST", f"{P}/runs/delete-tag", {"run_id": run_id, "key": key})

    def write_metrics(self, rows: Sequence[MetricRow]) -> None:
        """Send points in batches of at most ``BATCH_POINTS``, as a column per field;
        queue them when the server does not answer."""
        by_run: dict[str, list[MetricRow]] = {}
        for row in rows:
            by_run.setdefault(row[0], []).append(row)
        for run_id, points in by_run.items():
            for start in range(0, len(points), BATCH_POINTS):
                part = points[start:start + BATCH_POINTS]
                self._write("metrics", {"client_id": self.client_id, "batches": [{
                    "run_id": run_id, "seq": self._next_seq(),
                    "series": _series(part)}]})

    def get_metric_history(self, run_id: str, key: str, min_step: int | None = None
                           ) -> pd.DataFrame:
        import pandas as pd

        raw = self.http.call("GET", f"{P}/metrics/get-history",
                             {"run_id": run_id, "metric_key": key})
        points = raw.get("metrics", [])
        frame = pd.DataFrame({
            "step": pd.array([int(p.get("step", 0)) for p in points], dtype="int64"),
            "value": pd.array([float(p["value"]) for p in points], dtype="float64"),
            "timestamp": pd.array([int(p.get("timestamp", 0)) for p in points],
                                  dtype="int64")})
        frame = frame.sort_values(["step", "timestamp"], kind="stable").reset_index(drop=True)
        if min_step is not None:
            frame = frame[frame["step"] >= min_step].reset_index(drop=True)
        return frame.astype({"step": "int64", "value": "float64", "timestamp": "int64"})

    def search_runs(self, experiment_ids: Sequence[str], filter_string: str | None = None,
                    view_type: ViewType = ViewType.ACTIVE_ONLY, max_results: int = 1000,
                    order_by: Sequence[str] | None = None,
                    page_token: str | None = None) -> PagedList:
        raw = self.http.call("POST", f"{M}/runs/search", {
            "experiment_ids": list(experiment_ids), "filter": filter_string or "",
            "run_view_type": _VIEW[ViewType.parse(view_type)],
            "max_results": min(max_results, 50_000), "order_by": list(order_by or ()),
            **({"page_token": page_token} if page_token else {})})
        return PagedList([self._run(r) for r in raw.get("runs", ())], raw.get("next_page_token"))

    def search_runs_frame(self, experiment_ids: Sequence[str],
                          filter_string: str | None = None,
                          view_type: ViewType = ViewType.ACTIVE_ONLY,
                          max_results: int = 100_000, order_by: Sequence[str] | None = None,
                          page_token: str | None = None) -> tuple[pd.DataFrame, str | None]:
        runs: list[Run] = []
        token = page_token
        while len(runs) < max_results:
            page = self.search_runs(experiment_ids, filter_string, view_type,
                                    max_results - len(runs), order_by, token)
            runs += page.items
            token = page.next_page_token
            if not token:
                break
        names = {e: self.get_experiment(e).name for e in {r.info.experiment_id for r in runs}}
        return runs_frame(runs, names), token

    def heartbeat(self, run_ids: Iterable[str], now: int) -> None:
        """Runs made through the server carry no heartbeat (the server never takes them
        as dead), so there is nothing to send."""

    def mark_stale_runs(self, cutoff: int) -> list[str]:
        """Stale runs are the server's business; a client marks none."""
        return []

    def deleted_runs(self, older_than: int | None = None) -> list[RunInfo]:
        found = []
        for exp in self.search_experiments(ViewType.ALL, 50_000):
            token = None
            while True:
                page = self.search_runs([exp.experiment_id], None, ViewType.DELETED_ONLY,
                                        50_000, None, token)
                found += [r.info for r in page.items]
                token = page.next_page_token
                if not token:
                    break
        return found

    def purge_runs(self, run_ids: Sequence[str]) -> None:
        raise InvalidState("Runs on a team server are purged on the server: run "
                           "`mltrack gc` there against its database.")

    def registry_store(self) -> RestRegistryStore:
        """The server's model registry, over the same session."""
        from .rest_registry import RestRegistryStore

        return RestRegistryStore(self.http, self.uri)

    def record_model_digest(self, run_id: str, artifact_path: str, digest: str) -> None:
        """The server checks the files it holds against ``digest`` before pinning it, so
        this is never queued: the upload just finished, and a refusal must surface."""
        self.http.call("POST", f"{M}/runs/record-model",
                       {"run_id": run_id, "artifact_path": artifact_path, "digest": digest})

    # -- writes that survive an unreachable server --------------------------------------

    def _next_seq(self) -> int:
        with self._seq_lock:
            self._seq = max(self._seq + 1, time.time_ns() // 1000)
            return self._seq

    def _write(self, kind: str, body: dict[str, Any]) -> None:
        """Send one write now, or queue it (in order) when the server is down or earlier
        writes still wait."""
        if not len(self.queue):
            try:
                self._send(kind, body, retries=1)
                return
            except ServerUnreachable:
                pass
        self.queue.append(kind, body)
        self._start_replayer()

    def _send(self, kind: str, body: dict[str, Any], retries: int | None = None) -> None:
        send_write(self.http, kind, body, retries)

    def replay(self, limit: int | None = None) -> int:
        """Send queued writes now; raises ServerUnreachable when the server is down."""
        return self.queue.replay(lambda op: self._send_queued(op), limit)

    def _send_queued(self, op: QueuedOp) -> None:
        self._send(op.kind, op.body, retries=0)

    def _start_replayer(self) -> None:
        if self._replayer is not None and self._replayer.is_alive():
            self._wake.set()
            return
        self._replayer = threading.Thread(target=self._replay_loop, daemon=True,
                                          name="mltrack-remote-replay")
        self._replayer.start()

    def _replay_loop(self) -> None:
        delay = self._replay_interval
        while not self._closed:
            try:
                self.replay()
            except ServerUnreachable:
                self._wake.wait(delay)
                self._wake.clear()
                delay = min(delay * 2, 30.0)
                continue
            except Exception:  # noqa: BLE001 - a refused write stays queued for `mltrack sync`
                self._wake.wait(30.0)
                self._wake.clear()
                continue
            delay = self._replay_interval
            if not len(self.queue):
                return

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        self.queue.close()


def send_write(http: HttpSession, kind: str, body: dict[str, Any],
               retries: int | None = None) -> None:
    """Send one queued kind of write (metrics, log_batch, update_run) to the server."""
    path = {"metrics": f"{M}/runs/write-metrics", "log_batch": f"{P}/runs/log-batch",
            "update_run": f"{P}/runs/update"}[kind]
    if kind == "metrics":
        body = series_batches(body)
    http.call("POST", path, body, retries=retries, timeout=10.0)


def series_batches(body: dict[str, Any]) -> dict[str, Any]:
    """A write-metrics body with every batch as series: rows of [key, value, step,
    timestamp] (what earlier versions queued) become columns."""
    if all("metrics" not in batch for batch in body.get("batches", ())):
        return body
    return {**body, "batches": [
        {k: x for k, x in batch.items() if k != "metrics"} | {"series": _series(
            (None, *row) for row in batch["metrics"])} if "metrics" in batch else batch
        for batch in body["batches"]]}


def _series(points: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
    """Points (run_id, key, value, step, timestamp) as one {key, steps, values,
    timestamps} per key."""
    out: dict[str, dict[str, Any]] = {}
    for _, key, value, step, ts in points:
        series = out.get(key)
        if series is None:
            series = out[key] = {"key": key, "steps": [], "values": [], "timestamps": []}
        series["steps"].append(step)
        series["values"].append(_json_float(value))
        series["timestamps"].append(ts)
    return list(out.values())


def sync(server_url: str) -> int:
    """Push what the queue of ``server_url`` holds; returns the writes sent. Raises
    ServerUnreachable when the server is down (what is left stays queued)."""
    queue = OfflineQueue(server_url)
    try:
        http = HttpSession(queue.server_url)
        return queue.replay(lambda op: send_write(http, op.kind, op.body, retries=2))
    finally:
        queue.close()


def _json_float(value: Any) -> Any:
    if value.__class__ is not float:  # already spelled for JSON ("NaN"), or an int
        return value
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def runs_frame(runs: list[Run], experiment_names: dict[str, str]) -> pd.DataFrame:
    """The wide frame of :meth:`TrackingStore.search_runs_frame` from Run objects."""
    import numpy as np
    import pandas as pd

    columns: dict[str, Any] = {
        "run_id": [r.info.run_id for r in runs],
        "experiment_id": [r.info.experiment_id for r in runs],
        "experiment": [experiment_names.get(r.info.experiment_id) for r in runs],
        "run_name": [r.info.run_name for r in runs],
        "status": [r.info.status for r in runs],
        "start_time": pd.to_datetime(np.array([r.info.start_time for r in runs],
                                              dtype="int64"), unit="ms", utc=True),
        "end_time": pd.to_datetime(pd.array([r.info.end_time for r in runs], dtype="Int64"),
                                   unit="ms", utc=True),
        "user_id": [r.info.user_id for r in runs],
        "parent_run_id": [r.info.parent_run_id for r in runs],
        "artifact_uri": [r.info.artifact_uri for r in runs],
    }
    for prefix, attr, numeric in (("params.", "params", False), ("metrics.", "metrics", True),
                                  ("tags.", "tags", False)):
        keys = sorted({k for r in runs for k in getattr(r.data, attr)})
        for key in keys:
            values = [getattr(r.data, attr).get(key) for r in runs]
            columns[prefix + key] = (np.array([np.nan if x is None else x for x in values],
                                              dtype="float64") if numeric else values)
    return pd.DataFrame(columns)
