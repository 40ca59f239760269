"""The model registry on the SQL store (SQLite and PostgreSQL).

It shares the tracking store's :class:`~.database.Database`. This module reads;
the changes a service's plan asks for are applied by ``registry_changes``. Every write
that depends on the current state runs in one transaction holding the
registered model's lock: ``SELECT ... FOR UPDATE`` on its row on PostgreSQL,
the database write lock taken by ``BEGIN IMMEDIATE`` on SQLite. Version
numbers come from a counter on that row, so concurrent registrations get
1, 2, 3... and never the same number.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, delete, select, update
from sqlalchemy.exc import IntegrityError

from ..entities import (
    LifecycleStage,
    ModelVersion,
    PagedList,
    RegisteredModel,
    RegistryPolicy,
    Stage,
    StageTransition,
    TransitionRequest,
)
from ..errors import (
    AlreadyExists,
    NotFound,
    RegisteredModelNotFound,
)
from . import schema as t
from .changes import RegistryPlan, RegistrySnapshot
from .database import upsert
from .registry_changes import (
    apply_change,
    audit,
    new_id,
    read_policy,
    version_missing,
    version_row,
)
from .sql import SqlStore, now_ms

_stores: weakref.WeakKeyDictionary[SqlStore, SqlRegistryStore] = weakref.WeakKeyDictionary()
_stores_lock = threading.Lock()


def registry_for(store: SqlStore) -> SqlRegistryStore:
    """The registry store sharing ``store``'s engine (one per tracking store)."""
    with _stores_lock:
        found = _stores.get(store)
        if found is None:
            found = _stores[store] = SqlRegistryStore(store)
        return found


def _model_missing(name: str) -> RegisteredModelNotFound:
    return RegisteredModelNotFound(
        f"No registered model named {name!r}; register a version with "
        f"register_model(model_uri, {name!r}) or create it with create_registered_model()."
    )


class SqlRegistryStore:
    """Registered models, versions, aliases, requests, policies and their audit trail."""

    def __init__(self, store: SqlStore):
        self.store = store
        self.db = store.db
        self.dialect = store.dialect

    def __repr__(self) -> str:
        return f"SqlRegistryStore({self.store!r})"

    # -- registered models -------------------------------------------------------------

    def create_registered_model(self, name: str, user: str, tags: dict[str, str] | None = None,
                                description: str | None = None) -> RegisteredModel:
        def work(conn: Connection) -> None:
            now = now_ms()
            model_id = new_id(conn.execute(
                t.registered_models.insert().values(
                    name=name, creation_time=now, last_updated_time=now,
                    description=description, last_version=0,
                )
            ))
            if tags:
                conn.execute(t.registered_model_tags.insert(),
                             [{"model_id": model_id, "key": k, "value": v}
                              for k, v in tags.items()])

        if self._model_id_or_none(name) is not None:
            raise _exists(name)
        try:
            self.db.execute_write_fn(work)
        except IntegrityError as exc:  # a concurrent creator won
            raise _exists(name) from exc
        return self.get_registered_model(name)

    def get_registered_model(self, name: str) -> RegisteredModel:
        with self.db.read() as conn:
            row = conn.execute(
                select(t.registered_models).where(t.registered_models.c.name == name)
            ).first()
            if row is None:
                raise _model_missing(name)
            return self._models(conn, [row])[0]

    def search_registered_models(self, filter_string: str | None = None,
                                 max_results: int = 1000,
                                 order_by: Sequence[str] | None = None,
                                 page_token: str | None = None) -> PagedList:
        from .registry_search import page_of_models

        with self.db.read() as conn:
            rows, token = page_of_models(conn, filter_string, max_results, order_by,
                                         page_token)
            return PagedList(self._models(conn, rows), token)

    def update_registered_model(self, name: str, description: str | None = None,
                                set_tags: dict[str, str] | None = None,
                                delete_tags: Sequence[str] = ()) -> None:
        def work(conn: Connection) -> None:
            row = self._lock_model(conn, name)
            values: dict[str, Any] = {"last_updated_time": now_ms()}
            if description is not None:
                values["description"] = description
            conn.execute(update(t.registered_models)
                         .where(t.registered_models.c.id == row.id).values(**values))
            self._change_tags(conn, t.registered_model_tags, "model_id", row.id,
                              set_tags, delete_tags, f"Registered model {name!r}")

        self.db.execute_write_fn(work)

    def rename_registered_model(self, name: str, new_name: str) -> None:
        def work(conn: Connection) -> None:
            row = self._lock_model(conn, name)
            if new_name != name and conn.execute(
                    select(t.registered_models.c.id)
                    .where(t.registered_models.c.name == new_name)).first() is not None:
                raise _exists(new_name)
            conn.execute(update(t.registered_models).where(t.registered_models.c.id == row.id)
                         .values(name=new_name, last_updated_time=now_ms()))

        try:
            self.db.execute_write_fn(work)
        except IntegrityError as exc:  # a concurrent creator took the name
            raise _exists(new_name) from exc

    def delete_registered_model(self, name: str) -> None:
        def work(conn: Connection) -> None:
            row = self._lock_model(conn, name)
            # versions, tags, aliases, audit records, requests and the policy go with it
            conn.execute(delete(t.registered_models).where(t.registered_models.c.id == row.id))

        self.db.execute_write_fn(work)

    def _change_tags(self, conn: Connection, table: Any, owner: str, owner_id: int,
                     set_tags: dict[str, str] | None, delete_tags: Sequence[str],
                     what: str) -> None:
        """Upsert ``set_tags`` and remove ``delete_tags`` of one model or version."""
        for key, value in (set_tags or {}).items():
            upsert(conn, table, {owner: owner_id, "key": key}, {"value": value})
        for key in delete_tags:
            gone = conn.execute(delete(table).where(table.c[owner] == owner_id,
                                                    table.c.key == key)).rowcount
            if not gone:
                raise NotFound(f"{what} has no tag {key!r}.")

    def _models(self, conn: Connection, rows: Sequence[Any]) -> list[RegisteredModel]:
        if not rows:
            return []
        ids = [r.id for r in rows]
        tags: dict[int, dict[str, str]] = {}
        for tr in conn.execute(select(t.registered_model_tags)
                               .where(t.registered_model_tags.c.model_id.in_(ids))):
            tags.setdefault(tr.model_id, {})[tr.key] = tr.value
        aliases: dict[int, dict[str, int]] = {}
        for ar in conn.execute(
            select(t.model_aliases.c.model_id, t.model_aliases.c.alias, t.model_versions.c.version)
            .join(t.model_versions, t.model_versions.c.id == t.model_aliases.c.version_id)
            .where(t.model_aliases.c.model_id.in_(ids))
            .order_by(t.model_aliases.c.alias)
        ):
            aliases.setdefault(ar.model_id, {})[ar.alias] = ar.version
        mv = t.model_versions
        version_rows = conn.execute(
            select(mv).where(mv.c.model_id.in_(ids),
                             mv.c.lifecycle_stage == LifecycleStage.ACTIVE.value)
            .order_by(mv.c.model_id, mv.c.version.desc())
        ).all()
        names = {r.id: r.name for r in rows}
        latest: dict[int, dict[str, Any]] = {}
        for vr in version_rows:
            latest.setdefault(vr.model_id, {}).setdefault(vr.current_stage, vr)
        latest_versions: dict[int, tuple[ModelVersion, ...]] = {}
        for model_id, by_stage in latest.items():
            chosen = sorted(by_stage.values(), key=lambda r: r.version)
            latest_versions[model_id] = tuple(
                self._version_objects(conn, chosen, names)
            )
        return [
            RegisteredModel(
                name=r.name,
                creation_time=r.creation_time,
                last_updated_time=r.last_updated_time,
                description=r.description,
                tags=tags.get(r.id, {}),
                aliases=aliases.get(r.id, {}),
                latest_versions=latest_versions.get(r.id, ()),
            )
            for r in rows
        ]

    def _model_id_or_none(self, name: str) -> int | None:
        with self.db.read() as conn:
            row = conn.execute(select(t.registered_models.c.id)
                               .where(t.registered_models.c.name == name)).first()
        return None if row is None else int(row.id)

    def _lock_model(self, conn: Connection, name: str) -> Any:
        """The model's row, locked until the transaction ends."""
        query = select(t.registered_models).where(t.registered_models.c.name == name)
        if self.dialect == "postgresql":
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            raise _model_missing(name)
        return row

    # -- versions ----------------------------------------------------------------------

    def create_model_version(self, name: str, source: str, run_id: str | None, user: str,
                             tags: dict[str, str] | None = None,
                             description: str | None = None) -> ModelVersion:
        def work(conn: Connection) -> int:
            now = now_ms()
            conn.execute(
                self.db.dialect_insert(t.registered_models).values(
                    name=name, creation_time=now, last_updated_time=now, last_version=0,
                ).on_conflict_do_nothing(index_elements=["name"])
            )
            model = self._lock_model(conn, name)
            number = int(model.last_version) + 1
            conn.execute(update(t.registered_models)
                         .where(t.registered_models.c.id == model.id)
                         .values(last_version=number, last_updated_time=now))
            version_id = new_id(conn.execute(
                t.model_versions.insert().values(
                    model_id=model.id, version=number, source=source, run_id=run_id,
                    current_stage=Stage.NONE.value, creation_time=now,
                    last_updated_time=now, user_id=user, description=description,
                    lifecycle_stage=LifecycleStage.ACTIVE.value,
                )
            ))
            if tags:
                conn.execute(t.model_version_tags.insert(),
                             [{"version_id": version_id, "key": k, "value": v}
                              for k, v in tags.items()])
            audit(conn, model.id, number, "stage", "register", None,
                        Stage.NONE.value, user, now, comment=f"source {source}")
            return number

        number = self.db.execute_write_fn(work)
        return self.get_model_version(name, number)

    def import_model_version(self, name: str, version: int, *, source: str,
                             run_id: str | None, user: str, description: str | None,
                             tags: dict[str, str], creation_time: int | None,
                             last_updated_time: int | None) -> bool:
        """Create version ``version`` of ``name`` keeping that number (``ImportsVersions``);
        False when it exists already."""
        from .sql_import import import_model_version

        return import_model_version(self, name, version, source=source, run_id=run_id,
                                    user=user, description=description, tags=tags,
                                    creation_time=creation_time,
                                    last_updated_time=last_updated_time, now=now_ms())

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        mv = t.model_versions
        with self.db.read() as conn:
            row = conn.execute(
                select(mv).join(t.registered_models, t.registered_models.c.id == mv.c.model_id)
                .where(t.registered_models.c.name == name, mv.c.version == int(version))
            ).first()
            if row is None:
                if self._model_id_or_none(name) is None:
                    raise _model_missing(name)
                raise version_missing(name, version)
            return self._version_objects(conn, [row], {row.model_id: name})[0]

    def search_model_versions(self, filter_string: str | None = None,
                              max_results: int = 1000,
                              order_by: Sequence[str] | None = None,
                              page_token: str | None = None,
                              include_deleted: bool = False) -> PagedList:
        from .registry_search import page_of_versions

        with self.db.read() as conn:
            rows, token = page_of_versions(conn, filter_string, max_results, order_by,
                                           page_token, include_deleted)
            names = dict(conn.execute(
                select(t.registered_models.c.id, t.registered_models.c.name)
                .where(t.registered_models.c.id.in_({r.model_id for r in rows}))
            ).all()) if rows else {}
            return PagedList(self._version_objects(conn, rows, names), token)

    def update_model_version(self, name: str, version: int, description: str | None = None,
                             set_tags: dict[str, str] | None = None,
                             delete_tags: Sequence[str] = ()) -> None:
        def work(conn: Connection) -> None:
            model = self._lock_model(conn, name)
            row = version_row(conn, model.id, name, version)
            values: dict[str, Any] = {"last_updated_time": now_ms()}
            if description is not None:
                values["description"] = description
            conn.execute(update(t.model_versions).where(t.model_versions.c.id == row.id)
                         .values(**values))
            self._change_tags(conn, t.model_version_tags, "version_id", row.id,
                              set_tags, delete_tags, f"Version {version} of {name!r}")

        self.db.execute_write_fn(work)

    def _version_objects(self, conn: Connection, rows: Sequence[Any],
                         names: dict[int, str]) -> list[ModelVersion]:
        if not rows:
            return []
        ids = [r.id for r in rows]
        tags: dict[int, dict[str, str]] = {}
        aliases: dict[int, list[str]] = {}
        for chunk in _chunks(ids):
            for tr in conn.execute(select(t.model_version_tags)
                                   .where(t.model_version_tags.c.version_id.in_(chunk))):
                tags.setdefault(tr.version_id, {})[tr.key] = tr.value
            for ar in conn.execute(select(t.model_aliases)
                                   .where(t.model_aliases.c.version_id.in_(chunk))
                                   .order_by(t.model_aliases.c.alias)):
                aliases.setdefault(ar.version_id, []).append(ar.alias)
        return [
            ModelVersion(
                name=names[r.model_id],
                version=int(r.version),
                source=r.source,
                run_id=r.run_id,
                current_stage=r.current_stage,
                creation_time=r.creation_time,
                last_updated_time=r.last_updated_time,
                user_id=r.user_id,
                description=r.description,
                tags=tags.get(r.id, {}),
                aliases=tuple(aliases.get(r.id, ())),
                lifecycle_stage=r.lifecycle_stage,
            )
            for r in rows
        ]

    # -- audited changes ---------------------------------------------------------------

    def change_registry(self, name: str, plan: RegistryPlan, user: str) -> list[Any]:
        def work(conn: Connection) -> list[Any]:
            model = self._lock_model(conn, name)
            snapshot = self._snapshot(conn, model)
            changes = list(plan(snapshot))
            now = now_ms()
            results = [apply_change(conn, model, change, user, now) for change in changes]
            if changes:
                conn.execute(update(t.registered_models)
                             .where(t.registered_models.c.id == model.id)
                             .values(last_updated_time=now))
            return results

        return list(self.db.execute_write_fn(work))

    def _snapshot(self, conn: Connection, model: Any) -> RegistrySnapshot:
        registered = self._models(conn, [model])[0]
        mv = t.model_versions
        rows = conn.execute(select(mv).where(mv.c.model_id == model.id)
                            .order_by(mv.c.version)).all()
        versions = {v.version: v for v in self._version_objects(conn, rows,
                                                                {model.id: model.name})}
        requests = {r.request_id: r for r in self._requests(
            conn, t.transition_requests.c.model_id == model.id)}
        audit = t.registry_audit
        stage_records = self._records(conn, and_(audit.c.model_id == model.id,
                                                 audit.c.kind == "stage"))
        return RegistrySnapshot(
            model=registered, versions=versions, policy=read_policy(conn, model),
            requests=requests, stage_records=stage_records,
        )

    # -- history, requests, policies ---------------------------------------------------

    def registry_history(self, name: str) -> list[StageTransition]:
        with self.db.read() as conn:
            row = conn.execute(select(t.registered_models.c.id)
                               .where(t.registered_models.c.name == name)).first()
            if row is None:
                raise _model_missing(name)
            return self._records(conn, t.registry_audit.c.model_id == row.id)

    def _records(self, conn: Connection, where: Any) -> list[StageTransition]:
        audit = t.registry_audit
        rows = conn.execute(
            select(audit, t.registered_models.c.name)
            .join(t.registered_models, t.registered_models.c.id == audit.c.model_id)
            .where(where).order_by(audit.c.id)
        ).all()
        return [
            StageTransition(
                record_id=int(r.id), name=r.name, version=r.version, kind=r.kind,
                action=r.action, from_value=r.from_value, to_value=r.to_value,
                user_id=r.user_id, timestamp=int(r.timestamp), comment=r.comment,
                request_id=r.request_id, alias=r.alias,
            )
            for r in rows
        ]

    def transition_requests(self, name: str | None = None,
                            status: str | None = None) -> list[TransitionRequest]:
        tr = t.transition_requests
        where = []
        with self.db.read() as conn:
            if name is not None:
                row = conn.execute(select(t.registered_models.c.id)
                                   .where(t.registered_models.c.name == name)).first()
                if row is None:
                    raise _model_missing(name)
                where.append(tr.c.model_id == row.id)
            if status is not None:
                where.append(tr.c.status == status)
            return self._requests(conn, and_(*where) if where else None)

    def get_transition_request(self, request_id: int) -> TransitionRequest:
        with self.db.read() as conn:
            found = self._requests(conn, t.transition_requests.c.id == int(request_id))
        if not found:
            raise NotFound(
                f"No transition request {request_id}; list pending ones with "
                "transition_requests() or `mltrack models requests`."
            )
        return found[0]

    def _requests(self, conn: Connection, where: Any) -> list[TransitionRequest]:
        tr = t.transition_requests
        query = select(tr, t.registered_models.c.name).join(
            t.registered_models, t.registered_models.c.id == tr.c.model_id)
        if where is not None:
            query = query.where(where)
        return [
            TransitionRequest(
                request_id=int(r.id), name=r.name, version=int(r.version), kind=r.kind,
                target=r.target, archive_existing=bool(r.archive_existing), status=r.status,
                requested_by=r.requested_by, requested_time=int(r.requested_time),
                comment=r.comment, decided_by=r.decided_by, decided_time=r.decided_time,
                decision_comment=r.decision_comment,
            )
            for r in conn.execute(query.order_by(tr.c.id.desc()))
        ]

    def get_registry_policy(self, name: str) -> RegistryPolicy | None:
        with self.db.read() as conn:
            row = conn.execute(select(t.registered_models)
                               .where(t.registered_models.c.name == name)).first()
            if row is None:
                raise _model_missing(name)
            return read_policy(conn, row)


def _exists(name: str) -> AlreadyExists:
    return AlreadyExists(
        f"A registered model named {name!r} exists already; register a new version of it "
        "with register_model(), or pick another name."
    )


def _chunks(ids: list[int], size: int = 900) -> list[list[int]]:
    return [ids[i:i + size] for i in range(0, len(ids), size)]
