"""The module-level API (``mltrack.start_run()``, ``mltrack.log_metric()``...).

It keeps one tracking URI and one current experiment per process, a stack of active
runs per thread (as MLflow does), and delegates everything else to :class:`Client`.

A thread that has started no run of its own logs to the main thread's active run, so
code that trains in a worker thread inside ``with start_run():`` or a ``%%track`` cell
still lands in that run; ``start_run``/``end_run`` in a thread change only that
thread's stack, so concurrent threads never end each other's runs.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..artifacts import register_artifact_uri_resolver
from ..entities import Experiment, Metric, Run, RunStatus, ViewType
from ..errors import InvalidParameter, InvalidState
from ..uris import resolve_tracking_uri
from . import context, environment
from .client import Client
from .writer import ended_by_sigterm

if TYPE_CHECKING:
    import pandas as pd

EXPERIMENT_ENV = "MLTRACK_EXPERIMENT_NAME"
#: Set by ``mltrack run`` for the process it starts: ``start_run()`` attaches to that run.
RUN_ID_ENV = "MLTRACK_RUN_ID"
DEFAULT_EXPERIMENT = "Default"

_lock = threading.RLock()
_tracking_uri: str | None = None
_client: Client | None = None
_experiment_id: str | None = None
_stacks: dict[int, list[ActiveRun]] = {}  # thread ident -> that thread's active runs
_last_run_id: str | None = None


def _stack() -> list[ActiveRun]:
    """The calling thread's stack of active runs."""
    ident = threading.get_ident()
    stack = _stacks.get(ident)
    if stack is None:
        with _lock:
            for gone in set(_stacks) - {t.ident for t in threading.enumerate()}:
                if not _stacks[gone]:
                    del _stacks[gone]  # threads that ended with nothing open
            stack = _stacks.setdefault(ident, [])
    return stack


def _inherited() -> ActiveRun | None:
    """The run this thread logs to: its own innermost, else the main thread's."""
    own = _stack()
    if own:
        return own[-1]
    main = _stacks.get(threading.main_thread().ident or -1)
    return main[-1] if main else None


def _all_active() -> list[ActiveRun]:
    with _lock:
        return [run for stack in list(_stacks.values()) for run in stack]


class ActiveRun(Run):
    """A run started by :func:`start_run`; ends when its ``with`` block ends.

    An exception in the block ends the run FAILED, a KeyboardInterrupt or SIGTERM KILLED.
    """

    def __init__(self, run: Run):
        super().__init__(run.info, run.data)

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if ended_by_sigterm(self.info.run_id):
            status = RunStatus.KILLED  # and no traceback of the exit that followed
        elif exc_type is None:
            status = RunStatus.FINISHED
        elif issubclass(exc_type, KeyboardInterrupt):
            status = RunStatus.KILLED
        else:
            status = RunStatus.FAILED
            if exc is not None:
                _record_error(self.info.run_id, exc)
        # Children started inside the block and left open end with it.
        while any(r.info.run_id == self.info.run_id for r in _stack()):
            end_run(status.value)


def _record_error(run_id: str, exc: BaseException) -> None:
    import traceback

    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        client().set_tag(run_id, "mltrack.error", text[-7900:])
    except Exception:  # noqa: BLE001,S110 - reporting the error must not mask it
        pass


def reset() -> None:
    """Return the module-level API to a fresh process's state: end every active run
    (KILLED when ending fails), forget the tracking URI, stop the background writers and
    close the stores. Tests call it between stores."""
    from ..store import close_stores
    from .client import close_writers

    for stack in list(_stacks.values()):
        while stack:
            run = stack.pop()
            try:
                client().set_terminated(run.info.run_id, "FINISHED")
            except Exception:  # noqa: BLE001,S110 - the run may be broken on purpose
                pass
    _stacks.clear()
    set_tracking_uri(None)
    close_writers()
    close_stores()


def set_tracking_uri(uri: str | os.PathLike[str] | None) -> None:
    """Use another store: a folder, ``sqlite:///path.db`` or ``postgresql://...``.

    ``None`` returns to the default (``MLTRACK_TRACKING_URI`` or the nearest ``.mltrack``).
    """
    global _tracking_uri, _client, _experiment_id, _last_run_id
    with _lock:
        if _client is not None:
            _client.flush()
        _tracking_uri = None if uri is None else resolve_tracking_uri(uri)
        _client = None
        _experiment_id = None  # ids of the old store mean nothing in the new one
        _last_run_id = None


def get_tracking_uri() -> str:
    return _tracking_uri or resolve_tracking_uri(None)


def set_registry_uri(uri: str | os.PathLike[str]) -> None:
    """MLflow's; the model registry lives in the tracking store, so only that store's URI
    is accepted (use set_tracking_uri() to change both)."""
    if resolve_tracking_uri(uri) != get_tracking_uri():
        raise InvalidParameter(
            f"The model registry lives in the tracking store ({get_tracking_uri()}); it "
            f"cannot be set apart to {os.fspath(uri)}. Use set_tracking_uri() to change both."
        )


def get_registry_uri() -> str:
    """The model registry's store: the tracking store."""
    return get_tracking_uri()


def client(given: Client | None = None) -> Client:
    """``given`` when there is one, else the Client behind the module-level API (the store
    ``set_tracking_uri`` chose). Every ``client=`` argument of the services goes here."""
    if given is not None:
        return given
    global _client
    if _client is None:
        with _lock:
            if _client is None:
                _client = Client(_tracking_uri)
    return _client


def set_experiment(experiment_name: str | None = None, experiment_id: str | None = None
                   ) -> Experiment:
    """Make an experiment current, creating it by name if needed."""
    global _experiment_id
    c = client()
    if experiment_id is not None:
        exp = c.get_experiment(str(experiment_id))
    elif experiment_name is not None:
        exp = c.get_experiment(c.get_or_create_experiment(experiment_name))
    else:
        raise InvalidParameter("set_experiment needs experiment_name or experiment_id.")
    if exp.lifecycle_stage != "active":
        raise InvalidState(f"Experiment {exp.name!r} is deleted; restore it first.")
    _experiment_id = exp.experiment_id
    return exp


def _current_experiment_id() -> str:
    if _experiment_id is not None:
        return _experiment_id
    name = os.environ.get(EXPERIMENT_ENV) or DEFAULT_EXPERIMENT
    return set_experiment(name).experiment_id


def get_experiment_id() -> str:
    """The id of the current experiment (created on first use)."""
    return _current_experiment_id()


def create_experiment(name: str, artifact_location: str | None = None,
                      tags: dict[str, Any] | None = None) -> str:
    return client().create_experiment(name, artifact_location, tags)


def get_experiment(experiment_id: str) -> Experiment:
    return client().get_experiment(experiment_id)


def get_experiment_by_name(name: str) -> Experiment | None:
    return client().get_experiment_by_name(name)


def search_experiments(view_type: ViewType | str = ViewType.ACTIVE_ONLY,
                       max_results: int | None = None, filter_string: str | None = None,
                       order_by: Sequence[str] | str | None = None) -> list[Experiment]:
    """Experiments matching a filter (MLflow's signature): every one, or the first
    ``max_results``; newest first unless ``order_by`` says otherwise."""
    c = client()
    found: list[Experiment] = []
    token: str | None = None
    while True:
        page_size = 1000 if max_results is None else min(1000, max_results - len(found))
        page = c.search_experiments(view_type, page_size, filter_string, order_by, token)
        found.extend(page)
        token = page.next_page_token
        if token is None or (max_results is not None and len(found) >= max_results):
            return found


def delete_experiment(experiment_id: str) -> None:
    client().delete_experiment(experiment_id)


def set_experiment_tag(key: str, value: Any) -> None:
    """Tag the current experiment."""
    client().set_experiment_tag(_current_experiment_id(), key, value)


def set_experiment_tags(tags: dict[str, Any]) -> None:
    """Tag the current experiment with each key and value of ``tags``."""
    experiment_id = _current_experiment_id()
    for key, value in tags.items():
        client().set_experiment_tag(experiment_id, key, value)


def start_run(run_id: str | None = None, experiment_id: str | None = None,
              run_name: str | None = None, nested: bool = False,
              parent_run_id: str | None = None, tags: dict[str, Any] | None = None,
              description: str | None = None) -> ActiveRun:
    """Start a run (or resume ``run_id``) and make it active; use it as a context manager.

    With another run active, pass ``nested=True`` to start a child run. In a process
    started by ``mltrack run`` (``MLTRACK_RUN_ID`` set), the first run started attaches
    to the run the runner created.
    """
    global _last_run_id
    c = client()
    _active = _stack()
    with _lock:
        if _active and not nested and parent_run_id is None and run_id is None:
            raise InvalidState(
                f"Run {_active[-1].info.run_id} is active. End it with end_run(), or pass "
                "nested=True to start a child run."
            )
        attach = run_id is None and not _active and not nested and parent_run_id is None
        given = os.environ.get(RUN_ID_ENV)
        if attach and given and any(r.info.run_id == given for r in _all_active()):
            attach = False  # another thread of this process holds the runner's run
        if attach and given:
            # A project runner created this run for the process: attach to it, as MLflow
            # does with MLFLOW_RUN_ID.
            run_id = os.environ[RUN_ID_ENV]
            if tags:
                c.set_tags(run_id, tags)
        if run_id is not None:
            run = c.resume_run(run_id)
        else:
            exp_id = str(experiment_id) if experiment_id is not None else \
                _current_experiment_id()
            outer = _active[-1] if _active else _inherited()
            parent = parent_run_id or (outer.info.run_id if nested and outer else None)
            all_tags = context.run_context()
            all_tags.update(tags or {})
            if description:
                all_tags[context.NOTE] = description
            if parent:
                all_tags[context.PARENT_RUN] = parent
            run = c.create_run(exp_id, run_name=run_name, tags=all_tags, parent_run_id=parent)
            environment.log_environment(run, background=True)
        active = ActiveRun(run)
        _active.append(active)
        _last_run_id = run.info.run_id
        return active


def end_run(status: str = "FINISHED") -> None:
    """End the innermost active run of this thread."""
    _active = _stack()
    with _lock:
        if not _active:
            return
        run = _active.pop()
    client().set_terminated(run.info.run_id, status)


def active_run() -> ActiveRun | None:
    """The run this thread logs to (its own, else the main thread's), or None."""
    return _inherited()


def last_active_run() -> Run | None:
    """The run started last in this process, as stored now (ended or not)."""
    if _last_run_id is None:
        return None
    return client().get_run(_last_run_id)


def current_run_id() -> str:
    """The active run's id; starts a run when none is active, as ``log_param`` does."""
    run = _inherited()
    if run is not None:
        return run.info.run_id
    return start_run().info.run_id


def log_param(key: str, value: Any, synchronous: bool | None = None) -> Any:
    """Store a param of the active run at once (params are never buffered, whatever
    ``synchronous`` says); returns the value."""
    return client().log_param(current_run_id(), key, value)


def log_params(params: dict[str, Any], synchronous: bool | None = None,
               run_id: str | None = None) -> None:
    client().log_params(run_id or current_run_id(), params)


def set_tag(key: str, value: Any, synchronous: bool | None = None) -> None:
    client().set_tag(current_run_id(), key, value)


def set_tags(tags: dict[str, Any], synchronous: bool | None = None) -> None:
    client().set_tags(current_run_id(), tags)


def delete_tag(key: str) -> None:
    """Remove a tag from the active run."""
    client().delete_tag(current_run_id(), key)


def log_metric(key: str, value: Any, step: int | None = None,
               synchronous: bool | None = None, timestamp: int | None = None,
               run_id: str | None = None) -> None:
    """Log one metric point to the active run, or to ``run_id`` (returns in microseconds;
    ``synchronous=True`` stores it before returning; see flush())."""
    c = _client or client()
    if run_id is None:
        run_id = current_run_id()
    c.log_metric(run_id, key, value, step, timestamp, bool(synchronous))


def log_metrics(metrics: dict[str, Any], step: int | None = None,
                synchronous: bool | None = None, run_id: str | None = None,
                timestamp: int | None = None) -> None:
    client().log_metrics(run_id or current_run_id(), metrics, step, timestamp,
                         bool(synchronous))


def log_batch(metrics: Sequence[Metric] = (), params: dict[str, Any] | None = None,
              tags: dict[str, Any] | None = None) -> None:
    client().log_batch(current_run_id(), metrics, params, tags)


def log_artifact(local_path: str | os.PathLike[str], artifact_path: str | None = None,
                 run_id: str | None = None) -> None:
    client().log_artifact(run_id or current_run_id(), local_path, artifact_path)


def log_artifacts(local_dir: str | os.PathLike[str], artifact_path: str | None = None,
                  run_id: str | None = None) -> None:
    client().log_artifacts(run_id or current_run_id(), local_dir, artifact_path)


def log_text(text: str, artifact_file: str, run_id: str | None = None) -> None:
    client().log_text(run_id or current_run_id(), text, artifact_file)


def log_dict(dictionary: dict[str, Any], artifact_file: str, run_id: str | None = None) -> None:
    client().log_dict(run_id or current_run_id(), dictionary, artifact_file)


def log_figure(figure: Any, artifact_file: str, *,
               save_kwargs: dict[str, Any] | None = None) -> None:
    client().log_figure(current_run_id(), figure, artifact_file, save_kwargs=save_kwargs)


def log_image(image: Any, artifact_file: str | None = None, key: str | None = None,
              step: int | None = None, timestamp: int | None = None,
              synchronous: bool | None = None) -> None:
    """Save an image (numpy array or PIL image) as ``artifact_file``, or as step ``step``
    of the image series ``key``."""
    client().log_image(current_run_id(), image, artifact_file, key, step, timestamp)


def log_table(data: Any, artifact_file: str, run_id: str | None = None) -> None:
    """Save a DataFrame or dict of columns as a .json or .parquet table (appending to it)."""
    client().log_table(run_id or current_run_id(), data, artifact_file)


def load_table(artifact_file: str, run_ids: Sequence[str] | None = None,
               extra_columns: Sequence[str] | None = None) -> pd.DataFrame:
    """The tables ``log_table`` saved as ``artifact_file`` in the current experiment's runs
    (or in ``run_ids``), concatenated."""
    return client().load_table(_current_experiment_id(), artifact_file, run_ids, extra_columns)


def get_artifact_uri(artifact_path: str | None = None) -> str:
    from ..artifacts import clean_artifact_path

    uri = client().get_run(current_run_id()).info.artifact_uri
    rel = clean_artifact_path(artifact_path)
    return f"{uri}/{rel}" if rel else uri


def get_run(run_id: str) -> Run:
    return client().get_run(run_id)


def get_parent_run(run_id: str) -> Run | None:
    """The run ``run_id`` was started under, or None for a top-level run."""
    return client().get_parent_run(run_id)


def delete_run(run_id: str) -> None:
    client().delete_run(run_id)


def restore_run(run_id: str) -> None:
    client().restore_run(run_id)


def get_metric_history(run_id: str, key: str, as_frame: bool = False
                       ) -> list[Metric] | pd.DataFrame:
    """A metric's history: a list of Metric, or a DataFrame with ``as_frame=True`` (fast)."""
    if as_frame:
        return client().get_metric_history_frame(run_id, key)
    return client().get_metric_history(run_id, key)


def search_runs(experiment_ids: Sequence[str] | str | None = None,
                filter_string: str | None = None,
                run_view_type: ViewType | str = ViewType.ACTIVE_ONLY,
                max_results: int = 100_000,
                order_by: Sequence[str] | str | None = None,
                output_format: str = "pandas",
                experiment_names: Sequence[str] | None = None,
                search_all_experiments: bool = False,
                page_token: str | None = None) -> pd.DataFrame | list[Run]:
    """Runs matching a filter: a DataFrame (default) or a list of Run.

    Without experiment ids or names, searches the current experiment;
    ``search_all_experiments=True`` searches them all.
    """
    c = client()
    ids: list[str] = []
    if experiment_ids is not None:
        ids = [str(experiment_ids)] if isinstance(experiment_ids, (str, int)) else \
            [str(e) for e in experiment_ids]
    for name in experiment_names or ():
        ids.append(c.resolve_experiment_id(name))
    if not ids and not search_all_experiments:
        ids = [_current_experiment_id()]
    if output_format == "pandas":
        frame, _ = c.search_runs_frame(ids, filter_string, run_view_type, max_results, order_by,
                                       page_token)
        return frame
    if output_format == "list":
        return list(c.search_runs(ids, filter_string, run_view_type, max_results, order_by,
                                  page_token))
    raise InvalidParameter(f"output_format is 'pandas' or 'list', not {output_format!r}.")


def log_input(dataset: Any, context: str | None = None, tags: dict[str, Any] | None = None,
              name: str | None = None, source: str | None = None) -> None:
    """Record a dataset the active run uses: a pandas DataFrame, a numpy array or a
    ``Dataset`` (MLflow's ``log_input``). ``context`` says what for ("training", "eval").
    """
    from ..entities import DATASET_CONTEXT_TAG, DatasetInput, InputTag
    from .datasets import dataset_entity

    entity = dataset_entity(dataset, name=name, source=source)
    input_tags = [InputTag(str(k), str(v)) for k, v in (tags or {}).items()]
    if context is not None:
        input_tags.append(InputTag(DATASET_CONTEXT_TAG, str(context)))
    client().log_inputs(current_run_id(), [DatasetInput(entity, tuple(input_tags))])


def flush() -> None:
    """Store every buffered metric now."""
    if _client is not None:
        _client.flush()


def _run_artifacts(uri: str, tracking_uri: str | None) -> tuple[str, str]:
    """Where a ``runs:/<run_id>/<path>`` URI's files are: the run's artifact root, path."""
    from ..artifacts import clean_artifact_path
    from ..uris import parse_runs_uri

    parsed = parse_runs_uri(uri)
    c = Client(tracking_uri) if tracking_uri else client()
    return c.get_run(parsed.run_id).info.artifact_uri, clean_artifact_path(parsed.path)


register_artifact_uri_resolver("runs", _run_artifacts)

_uncaught: list[BaseException] = []
_previous_hook = sys.excepthook


def _excepthook(exc_type: Any, exc: Any, tb: Any) -> None:
    _uncaught.append(exc)
    for run in _all_active():
        _record_error(run.info.run_id, exc)
    _previous_hook(exc_type, exc, tb)


sys.excepthook = _excepthook


def _end_runs_at_exit() -> None:
    """Runs still active at exit end FINISHED, or FAILED after an uncaught exception."""
    status = "FINISHED"
    if _uncaught:
        status = "KILLED" if isinstance(_uncaught[-1], KeyboardInterrupt) else "FAILED"
    for stack in list(_stacks.values()):
        while stack:
            run = stack.pop()
            try:
                client().set_terminated(run.info.run_id, status)
            except Exception as exc:  # noqa: BLE001 - exiting anyway: say it, go on
                print(f"jupyter_mltrack: while ending the runs at exit: {exc}",
                      file=sys.stderr)


import atexit  # noqa: E402

atexit.register(_end_runs_at_exit)
