"""The model registry on the SQL store (SQLite and PostgreSQL).

It shares the tracking store's engine and transaction helpers. Every write
that depends on the current state runs in one transaction holding the
registered model's lock: ``SELECT ... FOR UPDATE`` on its row on PostgreSQL,
the database write lock taken by ``BEGIN IMMEDIATE`` on SQLite. Version
numbers come from a counter on that row, so concurrent registrations get
1, 2, 3... and never the same number.
"""

from __future__ import annotations

import json
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
    RequestStatus,
    Stage,
    StageTransition,
    TransitionRequest,
)
from ..errors import (
    AlreadyExists,
    InvalidState,
    ModelVersionNotFound,
    NotFound,
    RegisteredModelNotFound,
)
from . import schema as t
from .base import (
    AliasChange,
    DecisionChange,
    LifecycleChange,
    PolicyChange,
    RegistryChange,
    RegistryPlan,
    RegistrySnapshot,
    RequestChange,
    StageChange,
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


def _version_missing(name: str, version: int) -> ModelVersionNotFound:
    return ModelVersionNotFound(
        f"Registered model {name!r} has no version {version}; list its versions with "
        f"search_model_versions(\"name = '{name}'\")."
    )


class SqlRegistryStore:
    """Registered models, versions, aliases, requests, policies and their audit trail."""

    def __init__(self, store: SqlStore):
        self.store = store
        self.dialect = store.dialect

    def __repr__(self) -> str:
        return f"SqlRegistryStore({self.store!r})"

    # -- registered models -------------------------------------------------------------

    def create_registered_model(self, name: str, user: str, tags: dict[str, str] | None = None,
                                description: str | None = None) -> RegisteredModel:
        def work() -> None:
            with self.store._write() as conn:
                now = now_ms()
                model_id = _new_id(conn.execute(
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
            self.store._retrying(work)
        except IntegrityError as exc:  # a concurrent creator won
            raise _exists(name) from exc
        return self.get_registered_model(name)

    def get_registered_model(self, name: str) -> RegisteredModel:
        with self.store._read() as conn:
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

        with self.store._read() as conn:
            rows, token = page_of_models(conn, filter_string, max_results, order_by,
                                         page_token)
            return PagedList(self._models(conn, rows), token)

    def update_registered_model(self, name: str, description: str | None = None,
                                set_tags: dict[str, str] | None = None,
                                delete_tags: Sequence[str] = ()) -> None:
        def work() -> None:
            with self.store._write() as conn:
                row = self._lock_model(conn, name)
                values: dict[str, Any] = {"last_updated_time": now_ms()}
                if description is not None:
                    values["description"] = description
                conn.execute(update(t.registered_models)
                             .where(t.registered_models.c.id == row.id).values(**values))
                self._change_tags(conn, t.registered_model_tags, "model_id", row.id,
                                  set_tags, delete_tags, f"Registered model {name!r}")

        self.store._retrying(work)

    def _change_tags(self, conn: Connection, table: Any, owner: str, owner_id: int,
                     set_tags: dict[str, str] | None, delete_tags: Sequence[str],
                     what: str) -> None:
        """Upsert ``set_tags`` and remove ``delete_tags`` of one model or version."""
        for key, value in (set_tags or {}).items():
            self.store._upsert(conn, table, {owner: owner_id, "key": key}, {"value": value})
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
        with self.store._read() as conn:
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
        def work() -> int:
            with self.store._write() as conn:
                now = now_ms()
                conn.execute(
                    self._insert_ignore(t.registered_models).values(
                        name=name, creation_time=now, last_updated_time=now, last_version=0,
                    ).on_conflict_do_nothing(index_elements=["name"])
                )
                model = self._lock_model(conn, name)
                number = int(model.last_version) + 1
                conn.execute(update(t.registered_models)
                             .where(t.registered_models.c.id == model.id)
                             .values(last_version=number, last_updated_time=now))
                version_id = _new_id(conn.execute(
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
                self._audit(conn, model.id, number, "stage", "register", None,
                            Stage.NONE.value, user, now, comment=f"source {source}")
                return number

        number = self.store._retrying(work)
        return self.get_model_version(name, number)

    def _insert_ignore(self, table: Any) -> Any:
        from sqlalchemy.dialects import postgresql, sqlite

        dialect: Any = postgresql if self.dialect == "postgresql" else sqlite
        return dialect.insert(table)

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        mv = t.model_versions
        with self.store._read() as conn:
            row = conn.execute(
                select(mv).join(t.registered_models, t.registered_models.c.id == mv.c.model_id)
                .where(t.registered_models.c.name == name, mv.c.version == int(version))
            ).first()
            if row is None:
                if self._model_id_or_none(name) is None:
                    raise _model_missing(name)
                raise _version_missing(name, version)
            return self._version_objects(conn, [row], {row.model_id: name})[0]

    def search_model_versions(self, filter_string: str | None = None,
                              max_results: int = 1000,
                              order_by: Sequence[str] | None = None,
                              page_token: str | None = None,
                              include_deleted: bool = False) -> PagedList:
        from .registry_search import page_of_versions

        with self.store._read() as conn:
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
        def work() -> None:
            with self.store._write() as conn:
                model = self._lock_model(conn, name)
                row = self._version_row(conn, model.id, name, version)
                values: dict[str, Any] = {"last_updated_time": now_ms()}
                if description is not None:
                    values["description"] = description
                conn.execute(update(t.model_versions).where(t.model_versions.c.id == row.id)
                             .values(**values))
                self._change_tags(conn, t.model_version_tags, "version_id", row.id,
                                  set_tags, delete_tags, f"Version {version} of {name!r}")

        self.store._retrying(work)

    def _version_row(self, conn: Connection, model_id: int, name: str, version: int) -> Any:
        row = conn.execute(select(t.model_versions).where(
            t.model_versions.c.model_id == model_id, t.model_versions.c.version == int(version)
        )).first()
        if row is None:
            raise _version_missing(name, version)
        return row

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
        def work() -> list[Any]:
            with self.store._write() as conn:
                model = self._lock_model(conn, name)
                snapshot = self._snapshot(conn, model)
                changes = list(plan(snapshot))
                now = now_ms()
                results = [self._apply(conn, model, change, user, now) for change in changes]
                if changes:
                    conn.execute(update(t.registered_models)
                                 .where(t.registered_models.c.id == model.id)
                                 .values(last_updated_time=now))
                return results

        return list(self.store._retrying(work))

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
            model=registered, versions=versions, policy=self._policy(conn, model),
            requests=requests, stage_records=stage_records,
        )

    def _apply(self, conn: Connection, model: Any, change: RegistryChange, user: str,
               now: int) -> Any:
        if isinstance(change, StageChange):
            return self._apply_stage(conn, model, change, user, now)
        if isinstance(change, AliasChange):
            return self._apply_alias(conn, model, change, user, now)
        if isinstance(change, LifecycleChange):
            row = self._version_row(conn, model.id, model.name, change.version)
            target = LifecycleStage.DELETED if change.deleted else LifecycleStage.ACTIVE
            if row.lifecycle_stage == target.value:
                return None
            conn.execute(update(t.model_versions).where(t.model_versions.c.id == row.id)
                         .values(lifecycle_stage=target.value, last_updated_time=now,
                                 deleted_time=now if change.deleted else None))
            self._audit(conn, model.id, change.version, "lifecycle",
                        "delete" if change.deleted else "restore", row.lifecycle_stage,
                        target.value, user, now, change.comment)
            return None
        if isinstance(change, RequestChange):
            request_id = _new_id(conn.execute(
                t.transition_requests.insert().values(
                    model_id=model.id, version=change.version, kind=change.kind,
                    target=change.target, archive_existing=change.archive_existing,
                    status=RequestStatus.PENDING.value, requested_by=user,
                    requested_time=now, comment=change.comment,
                )
            ))
            label = change.target if change.kind == "stage" else "@" + change.target
            self._audit(conn, model.id, change.version, "request", "requested", None, label,
                        user, now, change.comment, request_id=request_id,
                        alias=change.target if change.kind == "alias" else None)
            return request_id
        if isinstance(change, DecisionChange):
            tr = t.transition_requests
            row = conn.execute(select(tr).where(tr.c.id == change.request_id,
                                                tr.c.model_id == model.id)).first()
            if row is None:
                raise NotFound(f"No transition request {change.request_id} for {model.name!r}.")
            done = conn.execute(
                update(tr).where(tr.c.id == row.id,
                                 tr.c.status == RequestStatus.PENDING.value)
                .values(status=change.status, decided_by=user, decided_time=now,
                        decision_comment=change.comment)
            ).rowcount
            if not done:
                raise InvalidState(f"Request {row.id} is {row.status.lower()} already.")
            label = row.target if row.kind == "stage" else "@" + row.target
            self._audit(conn, model.id, row.version, "request", change.status.lower(), None,
                        label, user, now, change.comment, request_id=int(row.id),
                        alias=row.target if row.kind == "alias" else None)
            return None
        if isinstance(change, PolicyChange):
            old = self._policy(conn, model)
            conn.execute(delete(t.registry_policies)
                         .where(t.registry_policies.c.model_id == model.id))
            new = change.policy
            if new is not None:
                conn.execute(t.registry_policies.insert().values(
                    model_id=model.id,
                    require_approval_for=json.dumps(list(new.require_approval_for)),
                    gates=json.dumps(new.gates, sort_keys=True),
                    gated_stages=json.dumps(list(new.gated_stages)),
                    allow_self_approval=new.allow_self_approval,
                    updated_by=user, updated_time=now,
                ))
            self._audit(conn, model.id, None, "policy", "set" if new else "delete",
                        _policy_text(old), _policy_text(new), user, now)
            return None
        raise TypeError(f"Unknown registry change {change!r}")

    def _apply_stage(self, conn: Connection, model: Any, change: StageChange, user: str,
                     now: int) -> Any:
        row = self._version_row(conn, model.id, model.name, change.version)
        if row.lifecycle_stage != LifecycleStage.ACTIVE.value:
            raise InvalidState(
                f"Version {change.version} of {model.name!r} is deleted; restore it first."
            )
        if row.current_stage == change.stage:
            return None
        conn.execute(update(t.model_versions).where(t.model_versions.c.id == row.id)
                     .values(current_stage=change.stage, last_updated_time=now))
        self._audit(conn, model.id, change.version, "stage", change.action, row.current_stage,
                    change.stage, user, now, change.comment, request_id=change.request_id)
        return None

    def _apply_alias(self, conn: Connection, model: Any, change: AliasChange, user: str,
                     now: int) -> Any:
        ma = t.model_aliases
        current = conn.execute(
            select(ma.c.version_id, t.model_versions.c.version)
            .join(t.model_versions, t.model_versions.c.id == ma.c.version_id)
            .where(ma.c.model_id == model.id, ma.c.alias == change.alias)
        ).first()
        old = None if current is None else int(current.version)
        if change.version is None:
            if current is None:
                raise NotFound(f"Registered model {model.name!r} has no alias "
                               f"{change.alias!r}.")
            conn.execute(delete(ma).where(ma.c.model_id == model.id, ma.c.alias == change.alias))
            self._audit(conn, model.id, old, "alias", "delete", str(old), None, user, now,
                        change.comment, request_id=change.request_id, alias=change.alias)
            return None
        row = self._version_row(conn, model.id, model.name, change.version)
        if row.lifecycle_stage != LifecycleStage.ACTIVE.value:
            raise InvalidState(
                f"Version {change.version} of {model.name!r} is deleted; restore it first."
            )
        if old == change.version:
            return None
        if current is None:
            conn.execute(ma.insert().values(model_id=model.id, alias=change.alias,
                                            version_id=row.id))
        else:
            conn.execute(update(ma).where(ma.c.model_id == model.id, ma.c.alias == change.alias)
                         .values(version_id=row.id))
        self._audit(conn, model.id, change.version, "alias", "set",
                    None if old is None else str(old), str(change.version), user, now,
                    change.comment, request_id=change.request_id, alias=change.alias)
        return None

    def _audit(self, conn: Connection, model_id: int, version: int | None, kind: str,
               action: str, from_value: str | None, to_value: str | None, user: str,
               now: int, comment: str | None = None, request_id: int | None = None,
               alias: str | None = None) -> None:
        conn.execute(t.registry_audit.insert().values(
            model_id=model_id, version=version, kind=kind, action=action, alias=alias,
            from_value=from_value, to_value=to_value, user_id=user or "", timestamp=now,
            comment=comment, request_id=request_id,
        ))

    # -- history, requests, policies ---------------------------------------------------

    def registry_history(self, name: str) -> list[StageTransition]:
        with self.store._read() as conn:
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
        with self.store._read() as conn:
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
        with self.store._read() as conn:
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
        with self.store._read() as conn:
            row = conn.execute(select(t.registered_models)
                               .where(t.registered_models.c.name == name)).first()
            if row is None:
                raise _model_missing(name)
            return self._policy(conn, row)

    def _policy(self, conn: Connection, model: Any) -> RegistryPolicy | None:
        row = conn.execute(select(t.registry_policies)
                           .where(t.registry_policies.c.model_id == model.id)).first()
        if row is None:
            return None
        return RegistryPolicy(
            name=model.name,
            require_approval_for=tuple(json.loads(row.require_approval_for)),
            gates=dict(json.loads(row.gates)),
            gated_stages=tuple(json.loads(row.gated_stages)),
            allow_self_approval=bool(row.allow_self_approval),
            updated_by=row.updated_by,
            updated_time=int(row.updated_time),
        )


def _exists(name: str) -> AlreadyExists:
    return AlreadyExists(
        f"A registered model named {name!r} exists already; register a new version of it "
        "with register_model(), or pick another name."
    )


def _policy_text(policy: RegistryPolicy | None) -> str | None:
    if policy is None:
        return None
    return json.dumps({
        "require_approval_for": list(policy.require_approval_for),
        "gates": policy.gates,
        "gated_stages": list(policy.gated_stages),
        "allow_self_approval": policy.allow_self_approval,
    }, sort_keys=True)


def _new_id(result: Any) -> int:
    """The primary key of the row an INSERT made."""
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def _chunks(ids: list[int], size: int = 900) -> list[list[int]]:
    return [ids[i:i + size] for i in range(0, len(ids), size)]
