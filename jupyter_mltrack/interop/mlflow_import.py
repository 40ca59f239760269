"""Import an MLflow store: experiments, runs with their full metric histories, artifacts,
and the model registry, keeping MLflow's run ids and version numbers.

The source (an ``mlruns/`` folder, an MLflow SQLite or PostgreSQL database, or a
tracking server's URL) is only read. Importing again adds only what is new:

- experiments are matched by name; a missing one is created, tags it lacks are added;
- runs are matched by id: a new run is created; an imported one gets the params it
  lacks, the source's tags, status and end time, and the metric points whose
  (step, timestamp, value) it does not hold yet;
- artifact files are copied unless a file of the same size is there already;
- model versions keep their numbers: a missing one is created; stage and aliases
  follow the source's (each change an audit record); version tags are added.

What is not imported is listed in the summary with the reason: deleted experiments,
runs and versions, runs whose artifacts cannot be read, unsafe artifact paths, params
that differ from a value imported before.
"""

from __future__ import annotations

import collections
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..artifacts import artifact_repository, clean_artifact_path
from ..entities import LifecycleStage, Stage
from ..errors import (
    ArtifactError,
    InvalidParameter,
    MLTrackError,
    NotFound,
    RegisteredModelNotFound,
)
from ..models.progress import Bar
from ..store import (
    AliasChange,
    ImportsRuns,
    ImportsVersions,
    RegistrySnapshot,
    StageChange,
    registry_store,
)
from ..store.mlflow_source import (
    HasArtifacts,
    MetricHistory,
    MlflowModel,
    MlflowRun,
    MlflowSource,
    ReadsHistoriesInBulk,
)
from ..tracking.client import Client

if TYPE_CHECKING:
    from ..store.sql_import import RunImport

IMPORT_USER = "mlflow-import"
#: runs are written in transactions of about this many metric points, or runs
BATCH_POINTS = 1_000_000
BATCH_RUNS = 200
_COMMENT = "imported from MLflow"


@dataclass(frozen=True, slots=True)
class Skipped:
    """Something of the source that was not imported, and why."""

    kind: str
    name: str
    reason: str


@dataclass
class ImportSummary:
    """What an import brought in, and what it left out."""

    source: str
    experiments: int = 0
    runs: int = 0
    runs_updated: int = 0
    runs_unchanged: int = 0
    metric_points: int = 0
    params: int = 0
    tags: int = 0
    artifact_files: int = 0
    artifact_bytes: int = 0
    registered_models: int = 0
    model_versions: int = 0
    registry_changes: int = 0
    seconds: float = 0.0
    skipped: list[Skipped] = field(default_factory=list)

    def skip(self, kind: str, name: str, reason: str) -> None:
        self.skipped.append(Skipped(kind, name, reason))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        lines = [
            f"Imported from {self.source} in {self.seconds:.1f}s:",
            f"  experiments created  {self.experiments}",
            f"  runs                 {self.runs} new, {self.runs_updated} updated, "
            f"{self.runs_unchanged} unchanged",
            f"  metric points        {self.metric_points:,}",
            f"  params, tags         {self.params:,}, {self.tags:,}",
            f"  artifact files       {self.artifact_files:,} ({self.artifact_bytes:,} bytes)",
            f"  registered models    {self.registered_models} new, "
            f"{self.model_versions} new versions, {self.registry_changes} stage/alias changes",
        ]
        if self.skipped:
            lines.append(f"Skipped {len(self.skipped)}:")
            lines += [f"  {s.kind} {s.name}: {s.reason}" for s in self.skipped]
        else:
            lines.append("Nothing skipped.")
        return "\n".join(lines)


def open_source(source: str | os.PathLike[str]) -> MlflowSource:
    """The reader for an ``mlruns/`` folder, an MLflow database URI or a server URL."""
    from ..store.mlflow_sql_source import MlflowSqlSource, is_mlflow_database

    text = os.fspath(source)
    if text.startswith(("http://", "https://")):
        from .mlflow_rest import MlflowRestSource

        return MlflowRestSource(text)
    if is_mlflow_database(text):
        return MlflowSqlSource(text)
    path = Path(text[len("file://"):] if text.startswith("file://") else text)
    if path.is_dir():
        from .mlflow_files import MlflowFileSource

        return MlflowFileSource(path)
    if path.is_file():
        with open(path, "rb") as handle:
            if handle.read(16) == b"SQLite format 3\x00":
                return MlflowSqlSource(f"sqlite:///{path.resolve()}")
    raise InvalidParameter(
        f"Cannot read an MLflow store from {text!r}: give an mlruns/ folder, a database URI "
        "(sqlite:///mlflow.db, postgresql://...) or a tracking server URL (http://...)."
    )


def import_mlflow(source: str | os.PathLike[str], *, experiments: Sequence[str] | None = None,
                  tracking_uri: str | None = None, progress: bool = True) -> ImportSummary:
    """Import an MLflow store into this store (``tracking_uri``, default the current one);
    ``experiments`` restricts it to those experiment names (the registry is imported
    for their runs only then). Returns what was imported and what was skipped, and why.
    """
    client = Client(tracking_uri)
    store = client.store
    if not isinstance(store, ImportsRuns):
        raise InvalidParameter(
            f"The store {client.tracking_uri} cannot take imported runs; import into a "
            "SQLite or PostgreSQL store (--tracking-uri sqlite:///...)."
        )
    started = time.monotonic()
    reader = open_source(source)
    summary = ImportSummary(reader.describe())
    try:
        imported = _import_tracking(client, store, reader, experiments, summary, progress)
        _import_registry(client, reader, imported, experiments is not None, summary)
    finally:
        reader.close()
    summary.seconds = time.monotonic() - started
    return summary


# -- tracking ------------------------------------------------------------------------------


def _import_tracking(client: Client, store: ImportsRuns, reader: MlflowSource,
                     names: Sequence[str] | None, summary: ImportSummary,
                     progress: bool) -> dict[str, tuple[str, str]]:
    """Experiments and runs; returns run id -> (MLflow artifact URI, ours) of every run
    that is in this store after the import."""
    found = reader.experiments()
    if names is not None:
        known = {e.name for e in found}
        missing = [n for n in names if n not in known]
        if missing:
            raise InvalidParameter(
                f"The MLflow store has no experiment named {missing[0]!r}; it has: "
                f"{', '.join(sorted(known)) or 'none'}."
            )
        found = [e for e in found if e.name in set(names)]
    plan: list[tuple[str, list[MlflowRun]]] = []
    for exp in found:
        if exp.lifecycle_stage != LifecycleStage.ACTIVE.value:
            summary.skip("experiment", exp.name, "deleted in MLflow (restore it there to "
                                                 "import it)")
            continue
        ours = client.get_experiment_by_name(exp.name)
        if ours is not None and ours.lifecycle_stage != LifecycleStage.ACTIVE.value:
            summary.skip("experiment", exp.name, "an experiment of that name is deleted here; "
                                                 "restore it (mltrack experiments restore)")
            continue
        if ours is None:
            exp_id = client.create_experiment(exp.name, tags=exp.tags or None)
            summary.experiments += 1
        else:
            exp_id = ours.experiment_id
            for key, value in exp.tags.items():
                if key not in ours.tags:
                    client.set_experiment_tag(exp_id, key, value)
        runs = []
        for run in reader.runs(exp.experiment_id):
            if run.lifecycle_stage != LifecycleStage.ACTIVE.value:
                summary.skip("run", run.run_id, f"deleted in MLflow (experiment {exp.name!r})")
            else:
                runs.append(run)
        plan.append((exp_id, runs))

    total = sum(len(runs) for _, runs in plan)
    bar = Bar("Importing from MLflow", total, enabled=progress and total > 0, unit="runs")
    drawn = 0.0
    imported: dict[str, tuple[str, str]] = {}
    work = [(exp_id, run) for exp_id, runs in plan for run in runs]
    with _Prefetch(reader, [run.run_id for _, run in work]) as histories:
        for exp_id, batch in _batches(work, histories):
            results = store.import_runs(exp_id, batch)
            for (run, _), result in zip(batch, results, strict=True):
                _record(reader, run, result, summary, imported)
            bar.done += len(batch)
            if bar.enabled and (time.monotonic() - drawn > 0.2 or bar.done == total):
                bar.update(bar.done)
                drawn = time.monotonic()
    bar.close()
    return imported


def _batches(work: list[tuple[str, MlflowRun]], histories: _Prefetch
             ) -> Iterator[tuple[str, list[tuple[MlflowRun, list[MetricHistory]]]]]:
    """The runs with their histories, in batches of one experiment written in one
    transaction each: about ``BATCH_POINTS`` metric points or ``BATCH_RUNS`` runs."""
    batch: list[tuple[MlflowRun, list[MetricHistory]]] = []
    points = 0
    for i, (exp_id, run) in enumerate(work):
        found = histories.next()
        batch.append((run, found))
        points += sum(len(h) for h in found)
        if (i + 1 == len(work) or work[i + 1][0] != exp_id or points >= BATCH_POINTS
                or len(batch) >= BATCH_RUNS):
            yield exp_id, batch
            batch, points = [], 0


def _record(reader: MlflowSource, run: MlflowRun, result: RunImport, summary: ImportSummary,
            imported: dict[str, tuple[str, str]]) -> None:
    """Count what importing ``run`` changed and copy its artifact files."""
    if result.refused is not None:
        summary.skip("run", run.run_id, result.refused)
        return
    dest_uri = result.artifact_uri
    imported[run.run_id] = (run.artifact_uri, dest_uri)
    files = _copy_artifacts(reader, run, dest_uri, summary)
    if result.created:
        summary.runs += 1
    elif result.points or result.params or result.tags or files:
        summary.runs_updated += 1
    else:
        summary.runs_unchanged += 1
    summary.metric_points += result.points
    summary.params += result.params
    summary.tags += result.tags
    for key in result.conflicts:
        summary.skip("param", f"{run.run_id}/{key}",
                     "the run has this param with another value already "
                     "(params are immutable; kept the value imported first)")


class _Prefetch:
    """Reads the runs' metric histories in a thread ahead of the writer, so that reading
    the source and writing this store overlap: up to ``ahead`` points (two write batches,
    so the readers go on while a batch commits) or, for bigger runs, one run."""

    def __init__(self, reader: MlflowSource, run_ids: list[str],
                 ahead: int = 2 * BATCH_POINTS):
        self.reader = reader
        self.run_ids = run_ids
        self.ahead = ahead
        self.items: collections.deque[Any] = collections.deque()
        self.points = 0  # points read and not yet taken by the writer
        self.ready = threading.Condition()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="mltrack-mlflow-read",
                                       daemon=True)

    def __enter__(self) -> _Prefetch:
        self.thread.start()
        return self

    def _run(self) -> None:
        if isinstance(self.reader, ReadsHistoriesInBulk):
            found: Iterator[list[MetricHistory]] = self.reader.metric_histories_of(
                self.run_ids)
        else:
            found = (self.reader.metric_histories(run_id) for run_id in self.run_ids)
        try:
            self._hand_over(found)
        finally:
            close = getattr(found, "close", None)
            if close is not None:
                close()  # ends the source's reading processes, if any

    def _hand_over(self, found: Iterator[list[MetricHistory]]) -> None:
        for _ in self.run_ids:
            try:
                item: Any = next(found)
                size = sum(len(h) for h in item)
            except BaseException as exc:  # noqa: BLE001 - handed to the writer's thread, raised there
                item, size = exc, 0
            with self.ready:
                while self.items and self.points + size > self.ahead \
                        and not self.stop.is_set():
                    self.ready.wait(0.1)
                if self.stop.is_set():
                    return
                self.items.append((item, size))
                self.points += size
                self.ready.notify_all()
            if isinstance(item, BaseException):
                return

    def next(self) -> list[MetricHistory]:
        with self.ready:
            while not self.items:
                self.ready.wait()
            item, size = self.items.popleft()
            self.points -= size
            self.ready.notify_all()
        if isinstance(item, BaseException):
            raise item
        return list(item)

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        with self.ready:
            self.ready.notify_all()
        self.thread.join()


def _source_files(reader: MlflowSource, run: MlflowRun) -> tuple[Iterator[Any], Any]:
    """The run's artifact files (path, size) and a function reading one."""
    if isinstance(reader, HasArtifacts):
        return ((f.path, f.size) for f in reader.artifact_files(run)), (
            lambda path: reader.read_artifact(run, path))
    repo = artifact_repository(run.artifact_uri)

    def walk(folder: str = "") -> Iterator[tuple[str, int | None]]:
        for info in repo.list(folder):
            if info.is_dir:
                yield from walk(info.path)
            else:
                yield info.path, info.file_size

    return walk(), repo


def _copy_artifacts(reader: MlflowSource, run: MlflowRun, dest_uri: str,
                    summary: ImportSummary) -> int:
    """Copy the run's files that the destination lacks; returns how many were copied."""
    if not isinstance(reader, HasArtifacts):
        if not run.artifact_uri:
            return 0
        if run.artifact_uri.startswith("mlflow-artifacts:"):
            summary.skip("artifacts", run.run_id,
                         f"{run.artifact_uri} is kept by the MLflow server; import through the "
                         "server's URL (http://...) to bring the files")
            return 0
    dest = artifact_repository(dest_uri)
    copied = 0
    try:
        files, source = _source_files(reader, run)
        there: dict[str, int] | None = None
        for path, size in files:
            if there is None:  # a run without files costs no listing of the destination
                there = _sizes(dest)
            try:
                rel = clean_artifact_path(path)
                if size is not None and there.get(rel) == size:
                    continue
                written = _copy_one(source, rel, dest, there.get(rel))
                if written is not None:
                    copied += 1
                    summary.artifact_bytes += written
            except (InvalidParameter, NotFound, ArtifactError) as exc:
                summary.skip("artifact", f"{run.run_id}/{path}", str(exc))
    except MLTrackError as exc:
        summary.skip("artifacts", run.run_id, f"cannot read {run.artifact_uri}: {exc}")
    except OSError as exc:
        summary.skip("artifacts", run.run_id, f"cannot read {run.artifact_uri}: {exc}")
    summary.artifact_files += copied
    return copied


def _copy_one(source: Any, rel: str, dest: Any, existing_size: int | None) -> int | None:
    """Copy one file; its size when written, None when a file of that size is there."""
    data = source(rel) if callable(source) else source.read_bytes(rel)
    if existing_size == len(data):
        return None
    dest.write_bytes(rel, data)
    return len(data)


def _sizes(repo: Any) -> dict[str, int]:
    out: dict[str, int] = {}

    def walk(folder: str) -> None:
        for info in repo.list(folder):
            if info.is_dir:
                walk(info.path)
            elif info.file_size is not None:
                out[info.path] = int(info.file_size)

    walk("")
    return out


# -- registry ------------------------------------------------------------------------------


def _import_registry(client: Client, reader: MlflowSource,
                     runs: dict[str, tuple[str, str]], only_these_runs: bool,
                     summary: ImportSummary) -> None:
    models = reader.registered_models()
    if not models:
        return
    registry = registry_store(client.store)
    if not isinstance(registry, ImportsVersions):
        summary.skip("registry", "", "this store's registry cannot take imported versions")
        return
    for model in models:
        versions = [v for v in model.versions if not only_these_runs or v.run_id in runs]
        if only_these_runs and not versions:
            continue
        try:
            _import_model(client, registry, model, versions, runs, summary)
        except MLTrackError as exc:
            summary.skip("registered model", model.name, str(exc))


def _import_model(client: Client, registry: Any, model: MlflowModel, versions: list[Any],
                  runs: dict[str, tuple[str, str]], summary: ImportSummary) -> None:
    try:
        ours = registry.get_registered_model(model.name)
    except RegisteredModelNotFound:
        registry.create_registered_model(model.name, IMPORT_USER, tags=model.tags or None,
                                         description=model.description)
        summary.registered_models += 1
    else:
        new_tags = {k: v for k, v in model.tags.items() if k not in ours.tags}
        if new_tags:
            registry.update_registered_model(model.name, set_tags=new_tags)
    for v in versions:
        source = _rewrite_source(v.source, v.run_id, runs)
        created = registry.import_model_version(
            model.name, v.version, source=source,
            run_id=v.run_id if v.run_id in runs else None, user=v.user_id or IMPORT_USER,
            description=v.description, tags=v.tags, creation_time=v.creation_time,
            last_updated_time=v.last_updated_time)
        if created:
            summary.model_versions += 1
        else:
            have = registry.get_model_version(model.name, v.version).tags
            new_tags = {k: val for k, val in v.tags.items() if k not in have}
            if new_tags:
                registry.update_model_version(model.name, v.version, set_tags=new_tags)
        if v.run_id and v.run_id not in runs:
            summary.skip("model version", f"{model.name}/{v.version}",
                         f"its run {v.run_id} is not in this store; imported without run")
        if created and source.startswith("models:/"):
            summary.skip("model files", f"{model.name}/{v.version}",
                         f"its source {source} is an MLflow logged model, whose files are "
                         "not imported; the version keeps that source")
    wanted = {v.version: Stage.parse(v.current_stage).value for v in versions}
    aliases = {a: n for a, n in model.aliases.items() if n in wanted}

    def plan(snapshot: RegistrySnapshot) -> list[Any]:
        changes: list[Any] = [
            StageChange(number, stage, comment=_COMMENT)
            for number, stage in sorted(wanted.items())
            if number in snapshot.versions and snapshot.versions[number].current_stage != stage
            and snapshot.versions[number].lifecycle_stage == LifecycleStage.ACTIVE.value
        ]
        changes += [AliasChange(alias, number, comment=_COMMENT)
                    for alias, number in sorted(aliases.items())
                    if snapshot.model.aliases.get(alias) != number]
        return changes

    summary.registry_changes += len(registry.change_registry(model.name, plan, IMPORT_USER))


def _rewrite_source(source: str, run_id: str | None, runs: dict[str, tuple[str, str]]) -> str:
    """A version's source pointing into its run's artifacts, pointed at the imported copy
    (``runs:/`` URIs stay: the run keeps its id)."""
    if run_id and run_id in runs:
        theirs, ours = runs[run_id]
        for prefix in {theirs.rstrip("/"), _local(theirs).rstrip("/")}:
            if prefix and (source == prefix or source.startswith(prefix + "/")):
                return ours.rstrip("/") + source[len(prefix):]
    return source


def _local(uri: str) -> str:
    return uri[len("file://"):] if uri.startswith("file://") else uri

