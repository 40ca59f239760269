"""Model versions: register, read, search, describe, tag, soft-delete, restore."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..entities import ModelVersion, PagedList, RequestStatus, Stage, TransitionRequest
from ..errors import InvalidParameter, InvalidState, MLTrackError, NotFound
from ..models import model_files_digest, read_model_meta
from ..models.provenance import (
    RESERVED_VERSION_TAG_PREFIX,
    VERSION_DIGEST_TAG,
    VERSION_ORIGIN_TAG,
)
from ..models.transfer import copy_into_store, remove_copy
from ..store.changes import AliasChange, DecisionChange, LifecycleChange, RegistrySnapshot
from ..store.search import quote_literal
from ..tracking import fluent
from ..tracking.context import current_user
from ..uris import parse_runs_uri
from .plans import Plan
from .registered import _order, clean_tags
from .validation import comment_text, model_name, version_number

if TYPE_CHECKING:
    from ..tracking.client import Client


def register_model(model_uri: str, name: str, tags: dict[str, Any] | None = None,
                   description: str | None = None, *, trust: bool = False,
                   client: Client | None = None,
                   await_registration_for: int | None = None) -> ModelVersion:
    """Register the model at ``model_uri`` as the next version (1, 2, ...) of ``name``.

    ``model_uri`` is ``runs:/<run_id>/<path>`` (the version is linked to that run),
    ``models:/<name>/<version|stage>`` or ``models:/<name>@<alias>`` (a copy under
    another name), or a local folder / artifact URL holding an ``MLmodel`` file, which
    is copied into the store (changing the folder afterwards changes nothing).
    The registered model is created when it does not exist yet.

    A version loads without ``trust=True`` only when its files are what ``log_model``
    wrote into the store. ``trust=True`` vouches for the files as they are now (a
    folder from outside the store, or files logged with ``log_artifacts``): the version
    then loads without it while its files stay exactly these. Registration is
    synchronous: MLflow's ``await_registration_for`` is accepted and changes nothing.
    """

    name = model_name(name)
    if not isinstance(model_uri, str) or not model_uri.strip():
        raise InvalidParameter(
            "register_model needs the model's URI, e.g. runs:/<run_id>/model."
        )
    clean = clean_tags(tags)
    _refuse_reserved(clean)
    uri = model_uri.strip()
    source, run_id, pins = source_of(uri, client)
    copied = None
    if not source.startswith("runs:/") and VERSION_ORIGIN_TAG not in pins:
        # a folder or URL outside the store: register a copy of it, never the original
        check_is_model(source, client)
        copied, digest = copy_into_store(source, _artifact_root(client, uri))
        source, pins = copied, {VERSION_ORIGIN_TAG: source}
        if trust:
            pins[VERSION_DIGEST_TAG] = digest
    try:
        check_is_model(source, client)
        if trust and copied is None:
            pins[VERSION_DIGEST_TAG] = _digest_now(source, client)
        return fluent.client(client).registry_store.create_model_version(
            name, source, run_id, current_user(), {**clean, **pins}, description
        )
    except BaseException:
        if copied is not None:
            with contextlib.suppress(MLTrackError):  # the first error is the one to report
                remove_copy(copied)
        raise


def source_of(model_uri: str, client: Client | None
              ) -> tuple[str, str | None, dict[str, str]]:
    """(where the files are, linked run id, provenance tags to carry) for a model URI."""
    if model_uri.startswith("runs:/"):
        parsed = parse_runs_uri(model_uri)
        if not parsed.path:
            raise InvalidParameter(
                f"{model_uri!r} names a run but no model folder in it; write "
                f"runs:/{parsed.run_id}/model (the artifact path given to log_model)."
            )
        fluent.client(client).store.get_run(parsed.run_id)  # RunNotFound when unknown
        return f"runs:/{parsed.run_id}/{parsed.path}", parsed.run_id, {}
    if model_uri.startswith("models:/"):
        from .resolve import model_version_for

        version = model_version_for(model_uri, client)
        # a version registered from outside the store is a copy in it, named by its
        # origin tag; one registered before copies were made has none and is copied now
        pins = {k: v for k, v in version.tags.items()
                if k in (VERSION_DIGEST_TAG, VERSION_ORIGIN_TAG)}
        return version.source, version.run_id, pins
    if "://" in model_uri and not model_uri.startswith("file://"):
        return model_uri.rstrip("/"), None, {}
    path = Path(model_uri.removeprefix("file://")).expanduser()
    if not path.exists():
        raise InvalidParameter(
            f"{model_uri!r} is not a runs:/ or models:/ URI and no such folder exists; pass "
            "runs:/<run_id>/<path> for a logged model or the folder of a saved model."
        )
    return str(path.resolve()), None, {}


def _refuse_reserved(tags: dict[str, str]) -> None:

    reserved = sorted(k for k in tags if k.startswith(RESERVED_VERSION_TAG_PREFIX))
    if reserved:
        raise InvalidParameter(
            f"Tag(s) {', '.join(reserved)} are written by the registry itself (where a "
            "version's files came from and which files were trusted); choose another key. "
            "To vouch for a model's files, register it with register_model(..., trust=True)."
        )


def _artifact_root(client: Client | None, model_uri: str) -> str:
    root = getattr(fluent.client(client).store, "artifact_root", None)
    if not root:
        raise InvalidParameter(
            f"This store has no artifact root to copy {model_uri} into; log the model in a "
            "run with log_model() and register runs:/<run_id>/<name> instead."
        )
    return str(root)


def _digest_now(source: str, client: Client | None) -> str:

    digest = model_files_digest(source, client=fluent.client(client), progress=False)
    if digest is None:
        raise InvalidParameter(
            f"The files of {source} include symbolic links or special files, so trust=True "
            "cannot pin them; save the model with save_model() and register that folder."
        )
    return digest


def artifact_location(source: str, client: Client | None) -> str:
    """Where a version's files are: a local folder or an artifact URL."""
    if source.startswith("runs:/"):
        parsed = parse_runs_uri(source)
        root = fluent.client(client).store.get_run(parsed.run_id).info.artifact_uri
        return root.rstrip("/") + "/" + parsed.path
    return source


def check_is_model(source: str, client: Client | None) -> None:
    """Refuse a source that holds no model (no ``MLmodel`` file)."""
    read_model_meta(source, client=fluent.client(client))


def get_model_version(name: str, version: int | str, *,
                      client: Client | None = None) -> ModelVersion:
    """One version of a registered model (deleted ones too: see ``.deleted``)."""
    return fluent.client(client).registry_store.get_model_version(
        model_name(name), version_number(version)
    )


def get_latest_versions(name: str, stages: Sequence[str] | None = None, *,
                        client: Client | None = None) -> list[ModelVersion]:
    """The newest active version in each stage (only ``stages`` when given)."""
    model = fluent.client(client).registry_store.get_registered_model(model_name(name))
    wanted = None if stages is None else {Stage.parse(s).value for s in stages}
    return [mv for mv in model.latest_versions
            if wanted is None or mv.current_stage in wanted]


def search_model_versions(filter_string: str | None = None, max_results: int = 1000,
                          order_by: Sequence[str] | str | None = None,
                          page_token: str | None = None, include_deleted: bool = False, *,
                          client: Client | None = None) -> PagedList:
    """Versions matching a filter, e.g. ``"name = 'churn' and stage = 'Production'"``,
    ``"tags.validated = 'yes'"`` or ``"metrics.accuracy > 0.9"`` (of the source run)."""
    return fluent.client(client).registry_store.search_model_versions(
        filter_string, max_results, _order(order_by), page_token, include_deleted
    )


def update_model_version(name: str, version: int | str, description: str, *,
                         client: Client | None = None) -> ModelVersion:
    """Set the description of a version."""
    name, number = model_name(name), version_number(version)
    store = fluent.client(client).registry_store
    store.update_model_version(name, number, description=str(description))
    return get_model_version(name, number, client=client)


def set_model_version_tag(name: str, version: int | str, key: str, value: Any, *,
                          client: Client | None = None) -> None:
    tags = clean_tags({key: value})
    _refuse_reserved(tags)
    store = fluent.client(client).registry_store
    store.update_model_version(model_name(name), version_number(version), set_tags=tags)


def delete_model_version_tag(name: str, version: int | str, key: str, *,
                             client: Client | None = None) -> None:
    _refuse_reserved({key: ""})
    store = fluent.client(client).registry_store
    store.update_model_version(model_name(name), version_number(version), delete_tags=[key])


class DeleteVersion(Plan):
    """Soft-delete a version, removing its aliases and cancelling its pending requests."""

    kind = "delete_version"
    level = "MANAGE"

    def __init__(self, name: str, *, user: str, client: Client | None = None,
                 version: Any = None, comment: Any = None) -> None:
        super().__init__(name, user=user, client=client, version=version_number(version),
                         comment=comment_text(comment))

    def changes(self, snapshot: RegistrySnapshot) -> list[Any]:
        name, number = self.name, self.args["version"]
        found = snapshot.versions.get(number)
        if found is None:
            raise NotFound(f"Registered model {name!r} has no version {number}.")
        if found.deleted:
            return []
        if found.current_stage in (Stage.STAGING.value, Stage.PRODUCTION.value):
            raise InvalidState(
                f"Version {number} of {name!r} is in {found.current_stage}; move it to "
                f"Archived first (transition_stage({name!r}, {number}, 'Archived')), or roll "
                "the stage back."
            )
        changes: list[Any] = [AliasChange(alias, None, f"version {number} deleted")
                              for alias in found.aliases]
        changes += [DecisionChange(r.request_id, RequestStatus.CANCELLED.value,
                                   f"version {number} deleted")
                    for r in snapshot.requests.values() if r.version == number and r.is_pending]
        changes.append(LifecycleChange(number, True, self.args["comment"]))
        return changes


class RestoreVersion(Plan):
    """Undo a soft delete."""

    kind = "restore_version"

    def __init__(self, name: str, *, user: str, client: Client | None = None,
                 version: Any = None, comment: Any = None) -> None:
        super().__init__(name, user=user, client=client, version=version_number(version),
                         comment=comment_text(comment))

    def changes(self, snapshot: RegistrySnapshot) -> list[Any]:
        return [LifecycleChange(self.args["version"], False, self.args["comment"])]


def delete_model_version(name: str, version: int | str, comment: str | None = None, *,
                         client: Client | None = None) -> ModelVersion:
    """Soft-delete a version: it keeps its number and history and can be restored.

    A version in Staging or Production is refused (archive it first); its
    aliases are removed and its pending requests cancelled, each recorded.
    """
    plan = DeleteVersion(name, user=current_user(), client=client, version=version,
                         comment=comment)
    fluent.client(client).registry_store.change_registry(plan.name, plan, plan.user)
    return get_model_version(plan.name, plan.args["version"], client=client)


def restore_model_version(name: str, version: int | str, comment: str | None = None, *,
                          client: Client | None = None) -> ModelVersion:
    """Undo ``delete_model_version``; the version comes back in the stage it had."""
    plan = RestoreVersion(name, user=current_user(), client=client, version=version,
                          comment=comment)
    fluent.client(client).registry_store.change_registry(plan.name, plan, plan.user)
    return get_model_version(plan.name, plan.args["version"], client=client)


#: How far a stage is from serving; register_best moves a version only upwards unless forced.
_RANK = {Stage.NONE.value: 0, Stage.ARCHIVED.value: 0, Stage.STAGING.value: 1,
         Stage.PRODUCTION.value: 2}


@dataclass(frozen=True)
class BestRegistration:
    """What :func:`best_registration` did.

    ``registered`` is False when the best run was registered already; ``kept_stage``
    is the stage the version kept because ``promote_to`` would have moved it down
    (None when nothing was refused); ``request`` is the approval request opened
    instead of moving it, if the model's policy asks for one.
    """

    version: ModelVersion
    run_id: str
    run_name: str
    registered: bool
    stage_before: str
    kept_stage: str | None = None
    request: TransitionRequest | None = None


def register_best(experiment: str, metric: str, mode: str = "max", filter: str | None = None,
                  name: str | None = None, model_path: str = "model",
                  promote_to: str | None = None, *, archive_existing: bool = True,
                  force_stage: bool = False, comment: str | None = None,
                  client: Client | None = None) -> ModelVersion:
    """Register the model of the best finished run of ``experiment`` by ``metric``.

    ``mode`` is "max" or "min"; ``filter`` narrows the runs (search grammar);
    ``name`` defaults to the experiment's name. Of runs tied on the metric, the one
    registered already wins, else the earliest, so running it again registers
    nothing new while the best is unchanged. With ``promote_to`` the version is then
    moved to that stage (under an approval policy this opens a request instead; see
    ``transition_requests``), but never down (Production to Staging, say) unless
    ``force_stage``. :func:`best_registration` also says what was done.
    """
    return best_registration(experiment, metric, mode, filter, name, model_path, promote_to,
                             archive_existing=archive_existing, force_stage=force_stage,
                             comment=comment, client=client).version


def best_registration(experiment: str, metric: str, mode: str = "max",
                      filter: str | None = None, name: str | None = None,
                      model_path: str = "model", promote_to: str | None = None, *,
                      archive_existing: bool = True, force_stage: bool = False,
                      comment: str | None = None,
                      client: Client | None = None) -> BestRegistration:
    """:func:`register_best`, returning what it did (see :class:`BestRegistration`)."""
    if mode not in ("max", "min"):
        raise InvalidParameter(f"mode is 'max' or 'min', not {mode!r}.")
    if not isinstance(metric, str) or not metric or "`" in metric:
        raise InvalidParameter(f"{metric!r} is not a metric key; pass e.g. 'accuracy'.")
    target = None if promote_to is None else Stage.parse(promote_to)
    c = fluent.client(client)
    experiment_id = c.resolve_experiment_id(experiment)
    name = model_name(name or c.get_experiment(experiment_id).name)
    condition = f"metrics.`{metric}` IS NOT NULL AND attributes.status = 'FINISHED'"
    if filter:
        condition += f" AND ({filter})"
    order = [f"metrics.`{metric}` {'DESC' if mode == 'max' else 'ASC'}",
             "attributes.start_time ASC"]
    page = c.search_runs([experiment_id], condition, max_results=100, order_by=order)
    if not len(page):
        raise NotFound(
            f"No finished run of experiment {experiment!r} has a metric {metric!r}"
            + (f" and matches {filter!r}" if filter else "") + "; nothing to register."
        )
    path = model_path.strip("/")
    value = page[0].data.metrics[metric]
    ties = [run for run in page if run.data.metrics[metric] == value]
    registered: dict[str, ModelVersion] = {}
    for mv in search_model_versions(f"name = {quote_literal(name)}", order_by="version ASC",
                                    client=c):
        if mv.run_id is not None and mv.source == f"runs:/{mv.run_id}/{path}":
            registered.setdefault(mv.run_id, mv)
    best = next((run for run in ties if run.run_id in registered), ties[0])
    version = registered.get(best.run_id)
    created = version is None
    if version is None:
        version = register_model(
            f"runs:/{best.run_id}/{path}", name,
            tags={"mltrack.selected_by": f"{mode} {metric}", f"mltrack.{mode}.{metric}": value},
            description=f"Best of experiment {experiment!r} by {mode} {metric} "
                        f"({metric} = {value:g})", client=c,
        )
    before = version.current_stage
    kept = None
    request = None
    if target is not None and target.value != before:
        if not force_stage and _RANK[target.value] < _RANK[before]:
            kept = before
        else:
            from .stages import transition_stage

            moved = transition_stage(
                name, version.version, target.value, archive_existing=archive_existing,
                comment=comment or f"best of {experiment!r} by {mode} {metric}", client=c)
            if isinstance(moved, TransitionRequest):
                request = moved
    return BestRegistration(get_model_version(name, version.version, client=c), best.run_id,
                            best.info.run_name, created, before, kept, request)

