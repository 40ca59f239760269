"""The tracking client: explicit run ids, one store, MLflow's ``MlflowClient`` vocabulary."""

from __future__ import annotations

import io
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..artifacts import artifact_repository, clean_artifact_path
from ..entities import (
    DatasetInput,
    Experiment,
    FileInfo,
    Metric,
    PagedList,
    Param,
    Run,
    RunStatus,
    RunTag,
    ViewType,
)
from ..errors import (
    ExperimentNotFound,
    InvalidParameter,
    InvalidState,
    NotFound,
    RunNotFound,
    WriteFailed,
)
from ..store import RegistryStore, TrackingStore, is_open, open_store, registry_store
from ..store.protocols import HEARTBEAT_INTERVAL_TAG
from ..uris import resolve_tracking_uri
from . import validation as v
from .context import MLFLOW_RUN_NAME, current_user, mlflow_system_tags
from .writer import BatchWriter, ended_by_sigterm

if TYPE_CHECKING:
    import pandas as pd

    from ..store.sqlite_peek import RunsPeek

#: A RUNNING run whose heartbeat is older than this (seconds), and than STALE_BEATS of
#: the heartbeat intervals of the process writing it, is taken as dead.
STALE_AFTER = float(os.environ.get("MLTRACK_HEARTBEAT_TIMEOUT", "60"))
_STALE_CHECK_EVERY = 5.0
#: The fewest characters of a run id that ``find_run`` takes as a prefix.
MIN_RUN_PREFIX = 4

_writers: dict[int, BatchWriter] = {}
_writers_lock = threading.Lock()


def _writer_for(store: TrackingStore) -> BatchWriter:
    writer = _writers.get(id(store))
    if writer is None:
        with _writers_lock:
            writer = _writers.get(id(store))
            if writer is None:
                writer = _writers[id(store)] = BatchWriter(store)
    return writer


def close_writers() -> None:
    """Flush and stop every background writer of this process (a failing one's error is
    dropped): for tests and embedders that reset the process's tracking state."""
    with _writers_lock:
        writers = list(_writers.values())
        _writers.clear()
    for writer in writers:
        try:
            writer.close()
        except Exception:  # noqa: BLE001,S110 - a writer may be failing on purpose
            pass


def _since(filter_string: str | None, started_after: int | None) -> str | None:
    """``filter_string`` narrowed to runs started at or after ``started_after``."""
    if started_after is None:
        return filter_string
    since = f"attributes.start_time >= {v.timestamp_value(started_after)}"
    if filter_string is None or not filter_string.strip():
        return since
    return f"({filter_string}) AND {since}"


def _now() -> int:
    return time.time_ns() // 1_000_000


_ADJECTIVES = ("bold", "brisk", "calm", "clever", "eager", "gentle", "keen", "lucid", "merry",
               "nimble", "quiet", "rapid", "sharp", "steady", "sunny", "swift", "tidy", "vivid",
               "warm", "wise")
_NOUNS = ("badger", "bear", "crane", "dolphin", "falcon", "fox", "gecko", "heron", "ibis",
          "koala", "lark", "lynx", "mole", "otter", "owl", "panda", "raven", "seal", "swan",
          "wren")


def random_run_name() -> str:
    """A readable name for a run started without one, such as ``swift-otter-042``."""
    rnd = int.from_bytes(os.urandom(4), "big")
    return (f"{_ADJECTIVES[rnd % len(_ADJECTIVES)]}-{_NOUNS[(rnd >> 8) % len(_NOUNS)]}-"
            f"{(rnd >> 16) % 1000:03d}")


class Client:
    """Talks to one tracking store. Cheap to create: stores are shared per URI."""

    def __init__(self, tracking_uri: str | os.PathLike[str] | None = None,
                 artifact_root: str | None = None):
        self.tracking_uri = resolve_tracking_uri(tracking_uri)
        self._artifact_root = artifact_root
        self._store: TrackingStore | None = None
        self._known_runs: set[str] = set()
        self._auto_step: dict[tuple[str, str], int] = {}
        self._last_stale_check = 0.0

    def __repr__(self) -> str:
        return f"Client({self.tracking_uri!r})"

    @property
    def store(self) -> TrackingStore:
        """The tracking store behind this client (opened on first use)."""
        if self._store is None:
            self._store = open_store(self.tracking_uri, self._artifact_root)
        return self._store

    @property
    def registry_store(self) -> RegistryStore:
        """The model registry that goes with this client's store."""
        return registry_store(self.store)

    @property
    def writer(self) -> BatchWriter:
        return _writer_for(self.store)

    # -- experiments -------------------------------------------------------------------

    def create_experiment(self, name: str, artifact_location: str | None = None,
                          tags: dict[str, Any] | None = None) -> str:
        v.name_value(name, "experiment name")
        clean_tags = {v.validate_key(k, "tag key"): v.tag_value(x) for k, x in (tags or {}).items()}
        return str(self.store.create_experiment(name, artifact_location, clean_tags))

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self.store.get_experiment(str(experiment_id))

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        return self.store.get_experiment_by_name(name)

    def get_or_create_experiment(self, name: str) -> str:
        v.name_value(name, "experiment name")
        return str(self.store.get_or_create_experiment(name))

    def search_experiments(self, view_type: ViewType | str = ViewType.ACTIVE_ONLY,
                           max_results: int = 1000, filter_string: str | None = None,
                           order_by: Sequence[str] | str | None = None,
                           page_token: str | None = None) -> PagedList:
        """One page of experiments (MLflow's ``search_experiments``): filter on name,
        experiment_id, creation_time, last_update_time and tags.<key>; newest first by
        default; ``next_page_token`` of the result continues."""
        return self.store.search_experiments(ViewType.parse(view_type), max_results,
                                             filter_string, _order(order_by), page_token)

    def delete_experiment(self, experiment_id: str) -> None:
        self.store.set_experiment_lifecycle(str(experiment_id), deleted=True)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        """Give an experiment another name; its runs stay with it."""
        v.name_value(new_name, "experiment name")
        self.store.rename_experiment(str(experiment_id), new_name)

    def restore_experiment(self, experiment_id: str) -> None:
        self.store.set_experiment_lifecycle(str(experiment_id), deleted=False)

    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        self.store.set_experiment_tag(str(experiment_id), v.validate_key(key, "tag key"),
                                      v.tag_value(value))

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        """Remove one tag of an experiment; raises NotFound when it has none of that key."""
        self.store.delete_experiment_tag(str(experiment_id), key)

    def resolve_experiment_id(self, experiment: str | None) -> str:
        """The id of an experiment given by id or by name; raises ExperimentNotFound.

        The one rule for every face: a string of digits that is an experiment id names
        that experiment; anything else (or digits no experiment has as id) is a name.
        """
        if experiment is None:
            raise InvalidParameter("Name an experiment.")
        experiment = str(experiment)
        if experiment.isdigit():
            try:
                return self.get_experiment(experiment).experiment_id
            except ExperimentNotFound:
                pass
        found = self.get_experiment_by_name(experiment)
        if found is None:
            names = [e.name for e in self.search_experiments()]
            raise ExperimentNotFound(
                f"No experiment named or numbered {experiment!r}; known experiments: "
                f"{', '.join(repr(n) for n in names[:10]) or 'none yet'}. Create it with "
                "create_experiment() or set_experiment()."
            )
        return found.experiment_id

    # -- runs --------------------------------------------------------------------------

    def create_run(self, experiment_id: str, run_name: str | None = None,
                   tags: dict[str, Any] | None = None, parent_run_id: str | None = None,
                   start_time: int | None = None) -> Run:
        """Start a RUNNING run; this process sends its heartbeat until it ends."""
        self.flush_check()
        if run_name is not None:
            v.name_value(run_name)
        clean_tags = {v.validate_key(k, "tag key"): v.tag_value(x) for k, x in (tags or {}).items()}
        clean_tags[HEARTBEAT_INTERVAL_TAG] = str(float(self.writer.heartbeat_interval))
        user = clean_tags.get("mltrack.user") or current_user()
        clean_tags.update(mlflow_system_tags(clean_tags, user, parent_run_id))
        name = run_name or clean_tags.get(MLFLOW_RUN_NAME) or random_run_name()
        v.name_value(name)
        clean_tags[MLFLOW_RUN_NAME] = _same_name(run_name, clean_tags.get(MLFLOW_RUN_NAME), name)
        info = self.store.create_run(
            str(experiment_id), name, start_time or _now(), user,
            parent_run_id=parent_run_id, tags=clean_tags,
        )
        self._known_runs.add(info.run_id)
        self.writer.watch(info.run_id)
        return Run(info, _data(params={}, metrics={}, tags=clean_tags))

    def set_terminated(self, run_id: str, status: str | None = "FINISHED",
                       end_time: int | None = None) -> None:
        """End a run (FINISHED when ``status`` is None): flush its metrics, then record
        the status and end time.

        The run ends even when some points could not be stored; that error is raised
        after the run has ended.
        """
        status_value = RunStatus.parse(status or "FINISHED")
        if not status_value.is_terminal:
            raise InvalidParameter(f"A run ends as FINISHED, FAILED or KILLED, not {status!r}.")
        self.writer.unwatch(run_id)
        if ended_by_sigterm(run_id):  # the handler stored its points and ended it KILLED
            self.flush()
            return
        try:
            self.flush()
        except WriteFailed:
            self.store.update_run(run_id, status=status_value.value,
                                  end_time=end_time or _now())
            raise
        self.store.update_run(run_id, status=status_value.value, end_time=end_time or _now())

    def update_run(self, run_id: str, status: str | None = None, name: str | None = None) -> None:
        if name is not None:
            v.name_value(name)
        self.store.update_run(run_id, status=status, run_name=name)

    def resume_run(self, run_id: str) -> Run:
        """Mark an ended run RUNNING again, for logging more to it."""
        run = self.get_run(run_id)
        if run.info.lifecycle_stage != "active":
            raise InvalidState(f"Run {run_id} is deleted; restore_run() it first.")
        if run.info.status != RunStatus.RUNNING.value:
            self.store.update_run(run_id, status=RunStatus.RUNNING.value)
        interval = str(float(self.writer.heartbeat_interval))
        if run.data.tags.get(HEARTBEAT_INTERVAL_TAG) != interval:  # this process beats now
            self.store.log_batch(run_id, tags={HEARTBEAT_INTERVAL_TAG: interval})
        self._known_runs.add(run_id)
        self.writer.watch(run_id)
        return self.get_run(run_id)

    def get_run(self, run_id: str) -> Run:
        self.flush()  # read what this process logged, like get_metric_history does
        self._mark_stale()
        return self.store.get_run(_run_id(run_id))

    def find_run(self, ref: str, experiment_ids: Sequence[str] | str | None = None,
                 run_view_type: ViewType | str = ViewType.ALL) -> Run:
        """A run by its id, the start of its id (``MIN_RUN_PREFIX`` characters or more)
        or its name, which must pick out one run of ``experiment_ids`` (all if None).

        Raises RunNotFound when nothing matches, InvalidParameter listing the
        candidates when several do.
        """
        from ..store.search import quote_literal

        text = ref.strip() if isinstance(ref, str) else ""
        if not text:
            raise InvalidParameter("Name a run: its id, the start of its id "
                                   f"({MIN_RUN_PREFIX} characters or more) or its name.")
        lowered = text.lower()
        is_hex = all(ch in "0123456789abcdef" for ch in lowered)
        missing: RunNotFound | None = None
        if is_hex and len(lowered) == 32:
            try:
                return self.get_run(lowered)
            except RunNotFound as exc:
                missing = exc
        found: dict[str, Run] = {}
        filters = [f"attributes.run_name = {quote_literal(text)}"]
        if is_hex and len(lowered) >= MIN_RUN_PREFIX:
            filters.insert(0, f"attributes.run_id LIKE {quote_literal(lowered + '%')}")
        for condition in filters:
            for run in self.search_runs(experiment_ids, condition, run_view_type,
                                        max_results=10):
                found.setdefault(run.info.run_id, run)
        if len(found) == 1:
            return next(iter(found.values()))
        if not found and missing is not None:
            raise missing
        if not found:
            raise RunNotFound(
                f"No run has the id, id prefix or name {text!r}"
                + ("" if experiment_ids is None else " in the experiments searched")
                + (f" (an id prefix needs {MIN_RUN_PREFIX} characters or more)"
                   if is_hex and len(lowered) < MIN_RUN_PREFIX else "")
                + ". List runs with search_runs()."
            )
        listed = "; ".join(
            f"{r.info.run_id[:8]} {r.info.run_name} ({r.info.status.lower()}, "
            f"experiment {r.info.experiment_id}"
            + (", deleted" if r.info.lifecycle_stage == "deleted" else "") + ")"
            for r in sorted(found.values(), key=lambda r: -r.info.start_time))
        more = "At least " if len(found) >= 10 else ""
        raise InvalidParameter(
            f"{more}{len(found)} runs match {text!r}: {listed}. Give more characters of "
            "the id you mean."
        )

    def get_parent_run(self, run_id: str) -> Run | None:
        """The run ``run_id`` was started under, or None for a top-level run."""
        from .context import PARENT_RUN

        parent = self.get_run(run_id).data.tags.get(PARENT_RUN)
        return self.get_run(parent) if parent else None

    def get_runs(self, run_ids: Sequence[str]) -> list[Run]:
        """Several runs by id, with few queries; ids that do not exist are left out."""
        from ..store.search import quote_literal

        found: list[Run] = []
        unique = sorted(set(run_ids))
        for lo in range(0, len(unique), 500):
            ids = ", ".join(quote_literal(_run_id(r)) for r in unique[lo:lo + 500])
            found += self.search_runs(None, f"attributes.run_id IN ({ids})",
                                      ViewType.ALL, max_results=500)
        return found

    def delete_run(self, run_id: str) -> None:
        self.store.set_run_lifecycle(_run_id(run_id), deleted=True)

    def restore_run(self, run_id: str) -> None:
        self.store.set_run_lifecycle(_run_id(run_id), deleted=False)

    def search_runs(self, experiment_ids: Sequence[str] | str | None = None,
                    filter_string: str | None = None,
                    run_view_type: ViewType | str = ViewType.ACTIVE_ONLY,
                    max_results: int = 1000, order_by: Sequence[str] | str | None = None,
                    page_token: str | None = None, *,
                    started_after: int | None = None) -> PagedList:
        """Runs matching a filter, as Run objects (one page).

        ``started_after``: only runs started at or after that time (ms since the epoch),
        as a live view asks for the runs that appeared since its last look.
        """
        self.flush()
        self._mark_stale()
        return self.store.search_runs(
            _ids(experiment_ids), _since(filter_string, started_after),
            ViewType.parse(run_view_type), max_results, _order(order_by), page_token,
        )

    def search_runs_frame(self, experiment_ids: Sequence[str] | str | None = None,
                          filter_string: str | None = None,
                          run_view_type: ViewType | str = ViewType.ACTIVE_ONLY,
                          max_results: int = 100_000,
                          order_by: Sequence[str] | str | None = None,
                          page_token: str | None = None, *,
                          started_after: int | None = None
                          ) -> tuple[pd.DataFrame, str | None]:
        """Runs matching a filter, as a wide DataFrame, and the next page token
        (``started_after`` as in :meth:`search_runs`)."""
        self.flush()
        self._mark_stale()
        return self.store.search_runs_frame(
            _ids(experiment_ids), _since(filter_string, started_after),
            ViewType.parse(run_view_type), max_results, _order(order_by), page_token,
        )

    def peek_runs(self, experiments: Sequence[str], limit: int) -> RunsPeek | None:
        """The newest ``limit`` active runs of ``experiments`` (names or ids; all when
        empty) as plain rows, read without loading SQLAlchemy or pandas: for the first
        widget of a fresh kernel. None unless the store is a SQLite file this process
        has not opened yet (and the plain read works); then :meth:`search_runs_frame`
        is the way. Stale runs are not marked here: the full read that follows does."""
        if self._store is not None or is_open(self.tracking_uri, self._artifact_root):
            return None
        from ..store.sqlite_peek import peek_runs

        return peek_runs(self.tracking_uri, [str(e) for e in experiments], limit)

    def _mark_stale(self) -> None:
        now = time.monotonic()
        if now - self._last_stale_check >= _STALE_CHECK_EVERY:
            self._last_stale_check = now
            self.store.mark_stale_runs(_now() - int(STALE_AFTER * 1000))

    def mark_stale_runs(self, stale_after: float | None = None) -> list[str]:
        """Mark RUNNING runs KILLED that sent no heartbeat for ``stale_after`` seconds nor
        for three of their own heartbeat intervals (whichever is longer)."""
        seconds = STALE_AFTER if stale_after is None else stale_after
        return self.store.mark_stale_runs(_now() - int(seconds * 1000))

    # -- params, tags, metrics ---------------------------------------------------------

    def _check_run(self, run_id: str) -> str:
        if run_id not in self._known_runs:
            run = self.store.get_run(_run_id(run_id))
            if run.info.lifecycle_stage != "active":
                raise InvalidState(f"Run {run_id} is deleted; restore it before logging to it.")
            self._known_runs.add(run_id)
        return run_id

    def log_param(self, run_id: str, key: str, value: Any,
                  synchronous: bool | None = None) -> Any:
        """Store one param at once (``synchronous`` is accepted for MLflow code: params
        are never buffered)."""
        self.log_batch(run_id, params={key: value})
        return value

    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        self.log_batch(run_id, params=params)

    def set_tag(self, run_id: str, key: str, value: Any,
                synchronous: bool | None = None) -> None:
        self.log_batch(run_id, tags={key: value})

    def set_tags(self, run_id: str, tags: dict[str, Any]) -> None:
        self.log_batch(run_id, tags=tags)

    def delete_tag(self, run_id: str, key: str) -> None:
        v.refuse_reserved_tags({key: ""})
        self.store.delete_tag(_run_id(run_id), key)

    def log_batch(self, run_id: str, metrics: Sequence[Metric] = (),
                  params: dict[str, Any] | Sequence[Param] | None = None,
                  tags: dict[str, Any] | Sequence[RunTag] | None = None,
                  synchronous: bool | None = None) -> None:
        """Params, tags and metrics stored synchronously in one transaction.

        Params and tags are dicts, or (as MLflow passes them) lists of Param and RunTag.
        """
        self.flush_check()
        given_params, given_tags = _as_dict(params, "params"), _as_dict(tags, "tags")
        if len(metrics) + len(given_params or ()) + len(given_tags or ()) > v.MAX_BATCH:
            raise InvalidParameter(f"A batch holds at most {v.MAX_BATCH} items; split it.")
        clean_params = {v.validate_key(k, "param key"): v.param_value(x)
                        for k, x in (given_params or {}).items()}
        clean_tags = {v.validate_key(k, "tag key"): v.tag_value(x)
                      for k, x in (given_tags or {}).items()}
        v.refuse_reserved_tags(clean_tags)
        if MLFLOW_RUN_NAME in clean_tags:
            v.name_value(clean_tags[MLFLOW_RUN_NAME])
        clean_metrics = [
            m if (m.key in v.VALID_KEYS and m.value.__class__ is float
                  and m.step.__class__ is int and m.timestamp.__class__ is int
                  and -v.INT64 <= m.step < v.INT64 and -v.INT64 <= m.timestamp < v.INT64)
            else Metric(v.validate_key(m.key, "metric key"), v.metric_value(m.key, m.value),
                        v.timestamp_value(m.timestamp, m.key), v.step_value(m.step, m.key))
            for m in metrics
        ]
        self.store.log_batch(_run_id(run_id), clean_metrics, clean_params, clean_tags)
        self._known_runs.add(run_id)

    def log_metric(self, run_id: str, key: str, value: Any, step: int | None = None,
                   timestamp: int | None = None, synchronous: bool = False) -> None:
        """Buffer one metric point; it is on disk within a second, or at ``flush()``.

        Without ``step``, each key counts its own steps 0, 1, 2... in this process.
        """
        writer = self.writer
        if writer.pending_error is not None:
            writer.check()
        if run_id not in self._known_runs:
            self._check_run(run_id)
        if key.__class__ is not str or key not in v.VALID_KEYS:
            v.validate_key(key, "metric key")
        value = v.metric_value(key, value)
        if step is None:
            slot = (run_id, key)
            step = self._auto_step.get(slot, -1) + 1
            self._auto_step[slot] = step
        else:
            step = v.step_value(step, key)
            # auto steps continue after explicit ones, as in log_metric_points
            if step > self._auto_step.get((run_id, key), -1):
                self._auto_step[(run_id, key)] = step
        writer.append((run_id, key, value,
                       step, time.time_ns() // 1_000_000 if timestamp is None
                       else v.timestamp_value(timestamp, key)))
        if synchronous:
            writer.flush()

    def log_metrics(self, run_id: str, metrics: dict[str, Any], step: int | None = None,
                    timestamp: int | None = None, synchronous: bool = False) -> None:
        first = next(iter(metrics), None)
        ts = _now() if timestamp is None else v.timestamp_value(timestamp, first)
        for key, value in metrics.items():
            self.log_metric(run_id, key, value, step=step, timestamp=ts)
        if synchronous:
            self.flush()

    def log_metric_points(self, run_id: str, key: str, values: Iterable[Any],
                          steps: Iterable[int] | None = None,
                          timestamps: Iterable[int] | None = None) -> None:
        """Buffer many points of one metric at once (values and steps may be arrays)."""
        self.flush_check()
        self._check_run(run_id)
        v.validate_key(key, "metric key")
        vals = [v.metric_value(key, x) for x in values]
        if steps is None:
            start = self._auto_step.get((run_id, key), -1) + 1
            step_list = list(range(start, start + len(vals)))
        else:
            step_list = [v.step_value(s, key) for s in steps]
        if step_list:
            self._auto_step[(run_id, key)] = max(step_list[-1],
                                                 self._auto_step.get((run_id, key), -1))
        now = _now()
        ts_list = [now] * len(vals) if timestamps is None else \
            [v.timestamp_value(x, key) for x in timestamps]
        if not len(vals) == len(step_list) == len(ts_list):
            raise InvalidParameter("values, steps and timestamps must have the same length.")
        self.writer.extend(list(zip([run_id] * len(vals), [key] * len(vals), vals, step_list,
                                    ts_list, strict=True)))

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every point of one metric, ordered by step (MLflow's return type)."""
        frame = self.get_metric_history_frame(run_id, key)
        return [Metric(key, val, ts, st) for st, val, ts in
                zip(frame["step"].to_numpy().tolist(), frame["value"].to_numpy().tolist(),
                    frame["timestamp"].to_numpy().tolist(), strict=True)]

    def get_metric_history_frame(self, run_id: str, key: str,
                                 min_step: int | None = None) -> pd.DataFrame:
        """Every point of one metric as a DataFrame (step, value, timestamp): fast.

        ``min_step`` returns only the points at or after that step: what a live view
        reads to extend a history it already holds.
        """
        self.flush()
        if min_step is None:
            return self.store.get_metric_history(_run_id(run_id), key)
        return self.store.get_metric_history(
            _run_id(run_id), key, min_step=int(min_step))

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput] | None = None) -> None:
        """Record datasets a run used (MLflow's ``log_inputs``); each is stored once per
        experiment and searchable with ``datasets.name``, ``datasets.digest`` and
        ``datasets.context``."""
        self.flush_check()
        items = list(datasets or ())
        for item in items:
            if not isinstance(item, DatasetInput):
                raise InvalidParameter(
                    f"log_inputs takes DatasetInput objects, not {type(item).__name__}; "
                    "to log a DataFrame or array use log_input(data, context=...)."
                )
            _check_dataset(item)
        if items:
            self.store.log_inputs(_run_id(run_id), items)

    def flush(self) -> None:
        """Store every buffered metric now; raise if some could not be stored."""
        if self._store is not None:
            self.writer.flush()

    def flush_check(self) -> None:
        if self._store is not None:
            writer = _writers.get(id(self._store))
            if writer is not None:
                writer.check()

    # -- artifacts ---------------------------------------------------------------------

    def _repo(self, run_id: str) -> Any:
        return artifact_repository(self.get_run(run_id).info.artifact_uri)

    def log_artifact(self, run_id: str, local_path: str | os.PathLike[str],
                     artifact_path: str | None = None) -> None:
        path = Path(local_path)
        repo = self._repo(run_id)
        if path.is_dir():
            repo.log_dir(path, _join(clean_artifact_path(artifact_path), path.name))
        else:
            repo.log_file(path, clean_artifact_path(artifact_path))

    def log_artifacts(self, run_id: str, local_dir: str | os.PathLike[str],
                      artifact_path: str | None = None) -> None:
        self._repo(run_id).log_dir(local_dir, clean_artifact_path(artifact_path))

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self._repo(run_id).write_bytes(artifact_file, text.encode("utf-8"))

    def log_dict(self, run_id: str, dictionary: dict[str, Any], artifact_file: str) -> None:
        if artifact_file.endswith((".yaml", ".yml")):
            import yaml

            data = yaml.safe_dump(dictionary, sort_keys=False)
        else:
            data = json.dumps(dictionary, indent=2, default=str)
        self._repo(run_id).write_bytes(artifact_file, data.encode("utf-8"))

    def log_figure(self, run_id: str, figure: Any, artifact_file: str, *,
                   save_kwargs: dict[str, Any] | None = None) -> None:
        """Save a matplotlib figure (png/svg/pdf...) or an Altair chart (html/json/png/svg);
        ``save_kwargs`` go to matplotlib's ``savefig``."""
        self._repo(run_id).write_bytes(artifact_file,
                                       _figure_bytes(figure, artifact_file, save_kwargs))

    def log_image(self, run_id: str, image: Any, artifact_file: str | None = None,
                  key: str | None = None, step: int | None = None,
                  timestamp: int | None = None, synchronous: bool | None = None) -> None:
        """Save an image (a numpy array as PNG, or a PIL image) as ``artifact_file``, or
        as one step of the image series ``key`` (``images/<key>/step_<step>_<time>.png``)."""
        from .media import image_bytes

        if (artifact_file is None) == (key is None):
            raise InvalidParameter(
                "log_image needs artifact_file or key (a series of images by step), "
                + ("not both." if key is not None else "and got neither.")
            )
        if key is not None:
            v.validate_key(key, "image key")
            number = v.step_value(step or 0, key)
            when = _now() if timestamp is None else v.timestamp_value(timestamp, key)
            artifact_file = f"images/{key}/step_{number}_{when}.png"
        assert artifact_file is not None
        self._repo(run_id).write_bytes(artifact_file, image_bytes(image, artifact_file))

    def log_table(self, run_id: str, data: Any, artifact_file: str) -> None:
        """Save a DataFrame or a dict of columns as ``artifact_file`` (.json or .parquet),
        appending to the table already there."""
        import pandas as pd

        from .media import check_table_file, read_table, table_bytes, table_frame

        check_table_file(artifact_file)
        frame = table_frame(data)
        repo = self._repo(run_id)
        try:
            old = repo.read_bytes(artifact_file)
        except NotFound:
            pass
        else:
            frame = pd.concat([read_table(old, artifact_file), frame], ignore_index=True)
        repo.write_bytes(artifact_file, table_bytes(frame, artifact_file))

    def load_table(self, experiment_id: str, artifact_file: str,
                   run_ids: Sequence[str] | None = None,
                   extra_columns: Sequence[str] | None = None) -> pd.DataFrame:
        """The tables saved as ``artifact_file`` by the runs given (by every run of the
        experiment when None), one after another; ``extra_columns`` (such as
        ``"run_id"``) add those run columns to each row."""
        import pandas as pd

        from .media import check_table_file, read_table

        check_table_file(artifact_file)
        runs = self.get_runs(run_ids) if run_ids is not None else \
            self.search_runs([experiment_id], max_results=100_000)
        frames = []
        for run in runs:
            try:
                data = artifact_repository(run.info.artifact_uri).read_bytes(artifact_file)
            except NotFound:
                continue
            frame = read_table(data, artifact_file)
            for column in extra_columns or ():
                frame[column] = _run_column(run, column)
            frames.append(frame)
        if not frames:
            raise NotFound(
                f"No run {'of those given' if run_ids is not None else 'of the experiment'} "
                f"has a table {artifact_file!r}; log one with log_table()."
            )
        return pd.concat(frames, ignore_index=True)

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        return self._repo(run_id).list(clean_artifact_path(path))

    def download_artifacts(self, run_id: str, path: str = "",
                           dst_path: str | os.PathLike[str] | None = None) -> str:
        dst = dst_path or tempfile.mkdtemp(prefix="mltrack-")
        return self._repo(run_id).download(path, dst)

    def read_artifact(self, run_id: str, artifact_file: str) -> bytes:
        return self._repo(run_id).read_bytes(artifact_file)

    # -- maintenance -------------------------------------------------------------------

    def gc(self, older_than_seconds: float | None = None,
           run_ids: Sequence[str] | None = None) -> list[str]:
        """Permanently remove deleted runs (and their artifacts); returns their ids."""
        cutoff = None if older_than_seconds is None else _now() - int(older_than_seconds * 1000)
        deleted = self.store.deleted_runs(cutoff)
        if run_ids is not None:
            wanted = set(run_ids)
            not_deleted = wanted - {r.run_id for r in deleted}
            if not_deleted:
                raise InvalidState(
                    f"Run {sorted(not_deleted)[0]} is not deleted; delete it first "
                    "(mltrack runs delete) and then collect it."
                )
            deleted = [r for r in deleted if r.run_id in wanted]
        for info in deleted:
            artifact_repository(info.artifact_uri).delete_all()
        self.store.purge_runs([r.run_id for r in deleted])
        return [r.run_id for r in deleted]


_DATASET_LIMITS = (("name", 500), ("digest", 64), ("source_type", 36))


def _check_dataset(item: DatasetInput) -> None:
    ds = item.dataset
    for field, limit in _DATASET_LIMITS:
        value = getattr(ds, field)
        if not isinstance(value, str) or not value or len(value) > limit:
            raise InvalidParameter(
                f"A dataset's {field} must be a non-empty string of at most {limit} "
                f"characters, not {value!r}."
            )
    for tag in item.tags:
        if not isinstance(tag.key, str) or not tag.key or len(tag.key) > 255 or \
                not isinstance(tag.value, str) or len(tag.value) > 500:
            raise InvalidParameter(
                f"Input tag {tag.key!r}: keys are 1 to 255 characters and values at most "
                "500 characters of text."
            )


def _same_name(run_name: str | None, tagged: str | None, name: str) -> str:
    """The run's name, refusing a ``mlflow.runName`` tag that names it otherwise."""
    if run_name and tagged and tagged != run_name:
        raise InvalidParameter(
            f"The run is named {run_name!r} but its tag {MLFLOW_RUN_NAME!r} says {tagged!r}; "
            "give one name (the tag is set from run_name)."
        )
    return name


def _data(**kwargs: Any) -> Any:
    from ..entities import RunData

    return RunData(**kwargs)


def _as_dict(items: Any, what: str) -> dict[str, Any] | None:
    """A dict of params or tags given as a dict or as a list of Param/RunTag."""
    if items is None or isinstance(items, dict):
        return items
    try:
        return {item.key: item.value for item in items}
    except (AttributeError, TypeError):
        raise InvalidParameter(
            f"{what} is a dict, or a list of Param/RunTag objects (with .key and .value)."
        ) from None


def _run_column(run: Run, column: str) -> Any:
    """A run's value for a search_runs column (``run_id``, ``params.x``, ``tags.y``...)."""
    kind, _, key = column.partition(".")
    if key and kind in ("params", "metrics", "tags"):
        return getattr(run.data, kind).get(key)
    if hasattr(run.info, column):
        return getattr(run.info, column)
    raise InvalidParameter(
        f"extra_columns names run columns such as 'run_id', 'run_name', 'params.<key>' or "
        f"'tags.<key>', not {column!r}."
    )


def _run_id(run_id: Any) -> str:
    if not isinstance(run_id, str) or not run_id:
        raise RunNotFound(f"{run_id!r} is not a run id; run ids are 32 hex characters.")
    return run_id


def _ids(experiment_ids: Sequence[str] | str | None) -> list[str]:
    if experiment_ids is None:
        return []
    if isinstance(experiment_ids, (str, int)):
        return [str(experiment_ids)]
    return [str(e) for e in experiment_ids]


def _order(order_by: Sequence[str] | str | None) -> list[str] | None:
    if order_by is None:
        return None
    return [order_by] if isinstance(order_by, str) else list(order_by)


def _join(*parts: str | None) -> str:
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


def _figure_bytes(figure: Any, artifact_file: str,
                  save_kwargs: dict[str, Any] | None = None) -> bytes:
    suffix = artifact_file.rsplit(".", 1)[-1].lower() if "." in artifact_file else ""
    module = type(figure).__module__
    if module.startswith("altair"):
        if suffix == "json":
            return figure.to_json().encode()
        if suffix == "html":
            return figure.to_html(inline=True).encode()
        if suffix in ("png", "svg", "pdf"):
            buffer = io.BytesIO() if suffix != "svg" else io.StringIO()
            figure.save(buffer, format=suffix)
            data = buffer.getvalue()
            return data.encode() if isinstance(data, str) else data
        raise InvalidParameter("Save an Altair chart as .html, .json, .png, .svg or .pdf.")
    if hasattr(figure, "savefig"):
        buffer = io.BytesIO()
        figure.savefig(buffer, **{"format": suffix or "png", "bbox_inches": "tight",
                                  **(save_kwargs or {})})
        return buffer.getvalue()
    raise InvalidParameter(
        f"log_figure takes a matplotlib Figure or an Altair chart, not {type(figure).__name__}."
    )
