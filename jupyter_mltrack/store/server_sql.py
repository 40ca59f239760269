"""The team server's own tables: users, tokens, permissions and MLflow 3's logged models.

They live apart from the tracking schema (no Alembic revision of it): ``create_all`` on
the server database (``--auth-db-uri``; by default a ``mltrack-server.db`` beside a
SQLite store, or the same PostgreSQL database). Passwords are stored as scrypt hashes,
tokens as SHA-256 digests: neither can be read back. Every worker and replica reads
these tables on each request, so a change is seen everywhere at once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    delete,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from ..errors import AlreadyExists, InvalidParameter, NotFound
from .database import Database

metadata = MetaData()

users = Table(
    "mltrack_server_users", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(256), nullable=False, unique=True),
    Column("password_hash", String(512), nullable=False),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("created", BigInteger, nullable=False),
)

tokens = Table(
    "mltrack_server_tokens", metadata,
    Column("digest", String(64), primary_key=True),
    Column("username", String(256), nullable=False, index=True),
    Column("name", String(256), nullable=False, default=""),
    Column("created", BigInteger, nullable=False),
)

permissions = Table(
    "mltrack_server_permissions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # "experiment" (resource = experiment id) or "registered_model" (resource = name)
    Column("kind", String(32), nullable=False),
    Column("resource", String(256), nullable=False),
    Column("username", String(256), nullable=False),
    Column("permission", String(16), nullable=False),
    UniqueConstraint("kind", "resource", "username", name="uq_mltrack_server_permission"),
)

logged_models = Table(
    "mltrack_server_logged_models", metadata,
    Column("model_id", String(64), primary_key=True),
    Column("experiment_id", String(64), nullable=False, index=True),
    Column("name", String(256), nullable=False),
    Column("artifact_location", Text, nullable=False),
    Column("status", String(32), nullable=False),
    Column("status_message", Text, nullable=True),
    Column("model_type", String(256), nullable=True),
    Column("source_run_id", String(64), nullable=True, index=True),
    Column("creator", String(256), nullable=True),
    Column("created", BigInteger, nullable=False),
    Column("updated", BigInteger, nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("tags", Text, nullable=False, default="{}"),
    Column("params", Text, nullable=False, default="{}"),
)

#: Permission levels, weakest first; each includes the ones before it.
LEVELS = ("READ", "EDIT", "MANAGE")
KINDS = ("experiment", "registered_model")

_SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1}
_MIN_PASSWORD = 12


def _now() -> int:
    return time.time_ns() // 1_000_000


def hash_password(password: str) -> str:
    """An scrypt hash of ``password`` with a random salt, as one string."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a hash made by :func:`hash_password`."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        computed = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), dklen=32,
                                  n=int(n), r=int(r), p=int(p))
    except ValueError:
        return False
    return hmac.compare_digest(computed.hex(), digest)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class User:
    """A user of the team server."""

    username: str
    is_admin: bool


@dataclass(frozen=True, slots=True)
class LoggedModel:
    """An MLflow 3 logged model: a model's files and metadata, apart from any run."""

    model_id: str
    experiment_id: str
    name: str
    artifact_location: str
    status: str
    created: int
    updated: int
    creator: str | None = None
    model_type: str | None = None
    source_run_id: str | None = None
    status_message: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    deleted: bool = False


def _username(name: Any) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 256 \
            or any(ch in name for ch in ":\x00\n\r"):
        raise InvalidParameter(
            "A username is 1 to 256 characters without ':' or line breaks.")
    return name


def _level(level: Any) -> str:
    text = str(level).upper()
    if text not in (*LEVELS, "NO_PERMISSIONS"):
        raise InvalidParameter(
            f"Unknown permission {level!r}; use READ, EDIT, MANAGE or NO_PERMISSIONS.")
    return text


class ServerStore:
    """Users, tokens, permissions and logged models of one team server."""

    def __init__(self, uri: str):
        self.uri = uri
        self.db = Database(uri)
        metadata.create_all(self.db.engine, checkfirst=True)
        # (username, stored hash, sha256 of the password) that matched: scrypt once per
        # password, while a changed password (a new stored hash) is checked again.
        self._verified: set[tuple[str, str, str]] = set()
        self._lock = threading.Lock()

    def close(self) -> None:
        self.db.close()

    # -- users -------------------------------------------------------------------------

    def create_user(self, username: str, password: str, is_admin: bool = False) -> User:
        """Add a user; raises AlreadyExists."""
        _username(username)
        if not isinstance(password, str) or len(password) < _MIN_PASSWORD:
            raise InvalidParameter(
                f"A password has at least {_MIN_PASSWORD} characters; there is no default.")
        hashed = hash_password(password)

        def work(conn: Any) -> None:
            if conn.execute(select(users.c.id).where(users.c.username == username)).first():
                raise AlreadyExists(f"A user named {username!r} exists already; "
                                    "set its password with update-user instead.")
            conn.execute(users.insert().values(username=username, password_hash=hashed,
                                               is_admin=bool(is_admin), created=_now()))
        try:
            self.db.execute_write_fn(work)
        except IntegrityError as exc:
            raise AlreadyExists(f"A user named {username!r} exists already.") from exc
        return User(username, bool(is_admin))

    def update_user(self, username: str, password: str | None = None,
                    is_admin: bool | None = None) -> None:
        """Change a user's password or admin flag; raises NotFound."""
        values: dict[str, Any] = {}
        if password is not None:
            if len(password) < _MIN_PASSWORD:
                raise InvalidParameter(f"A password has at least {_MIN_PASSWORD} characters.")
            values["password_hash"] = hash_password(password)
        if is_admin is not None:
            values["is_admin"] = bool(is_admin)
        if not values:
            return
        with self.db.write() as conn:
            done = conn.execute(update(users).where(users.c.username == username)
                                .values(**values)).rowcount
        if not done:
            raise NotFound(f"No user named {username!r}.")

    def delete_user(self, username: str) -> None:
        """Remove a user, their tokens and permissions; raises NotFound."""
        with self.db.write() as conn:
            done = conn.execute(delete(users).where(users.c.username == username)).rowcount
            conn.execute(delete(tokens).where(tokens.c.username == username))
            conn.execute(delete(permissions).where(permissions.c.username == username))
        if not done:
            raise NotFound(f"No user named {username!r}.")

    def get_user(self, username: str) -> User | None:
        with self.db.read() as conn:
            row = conn.execute(select(users.c.username, users.c.is_admin)
                               .where(users.c.username == username)).first()
        return None if row is None else User(row.username, bool(row.is_admin))

    def list_users(self) -> list[User]:
        with self.db.read() as conn:
            rows = conn.execute(select(users.c.username, users.c.is_admin)
                                .order_by(users.c.username)).all()
        return [User(r.username, bool(r.is_admin)) for r in rows]

    def authenticate(self, username: str, password: str) -> User | None:
        """The user when the password matches, else None."""
        with self.db.read() as conn:
            row = conn.execute(select(users).where(users.c.username == username)).first()
        if row is None:
            return None
        key = (username, row.password_hash, hashlib.sha256(password.encode()).hexdigest())
        if key not in self._verified:
            if not check_password(password, row.password_hash):
                return None
            with self._lock:
                if len(self._verified) > 10_000:
                    self._verified.clear()
                self._verified.add(key)
        return User(row.username, bool(row.is_admin))

    # -- tokens ------------------------------------------------------------------------

    def create_token(self, username: str, name: str = "") -> str:
        """A new access token for the user (shown once; only its digest is kept)."""
        if self.get_user(username) is None:
            raise NotFound(f"No user named {username!r}; create it first.")
        token = "mlt_" + secrets.token_urlsafe(32)
        with self.db.write() as conn:
            conn.execute(tokens.insert().values(digest=token_digest(token), username=username,
                                                name=name, created=_now()))
        return token

    def user_for_token(self, token: str) -> User | None:
        with self.db.read() as conn:
            row = conn.execute(
                select(users.c.username, users.c.is_admin)
                .select_from(tokens.join(users, tokens.c.username == users.c.username))
                .where(tokens.c.digest == token_digest(token))).first()
        return None if row is None else User(row.username, bool(row.is_admin))

    def revoke_tokens(self, username: str) -> int:
        with self.db.write() as conn:
            return int(conn.execute(delete(tokens).where(tokens.c.username == username))
                       .rowcount)

    # -- permissions -------------------------------------------------------------------

    def set_permission(self, kind: str, resource: str, username: str, level: str) -> None:
        """Grant ``level`` on one experiment or registered model (NO_PERMISSIONS revokes)."""
        if kind not in KINDS:
            raise InvalidParameter(f"Permissions are on {' or '.join(KINDS)}, not {kind!r}.")
        level = _level(level)
        _username(username)
        key = and_(permissions.c.kind == kind, permissions.c.resource == str(resource),
                   permissions.c.username == username)

        def work(conn: Any) -> None:
            conn.execute(delete(permissions).where(key))
            conn.execute(permissions.insert().values(kind=kind, resource=str(resource),
                                                     username=username, permission=level))
        self.db.execute_write_fn(work)

    def delete_permission(self, kind: str, resource: str, username: str) -> None:
        with self.db.write() as conn:
            conn.execute(delete(permissions).where(and_(
                permissions.c.kind == kind, permissions.c.resource == str(resource),
                permissions.c.username == username)))

    def get_permission(self, kind: str, resource: str, username: str) -> str | None:
        """The level granted to the user on the resource, or None."""
        with self.db.read() as conn:
            row = conn.execute(select(permissions.c.permission).where(and_(
                permissions.c.kind == kind, permissions.c.resource == str(resource),
                permissions.c.username == username))).first()
        return None if row is None else str(row.permission)

    def permissions_of(self, kind: str, username: str) -> dict[str, str]:
        """resource -> level of every grant of that kind to the user."""
        with self.db.read() as conn:
            rows = conn.execute(select(permissions.c.resource, permissions.c.permission)
                                .where(and_(permissions.c.kind == kind,
                                            permissions.c.username == username))).all()
        return {r.resource: r.permission for r in rows}

    def rename_resource(self, kind: str, old: str, new: str) -> None:
        """Move every grant on a renamed resource to its new name, in one transaction.

        Grants still on the new name belong to a resource of that name deleted earlier
        (outside this server); they are dropped rather than inherited."""
        old, new = str(old), str(new)
        if old == new:
            return

        def work(conn: Any) -> None:
            conn.execute(delete(permissions).where(and_(permissions.c.kind == kind,
                                                        permissions.c.resource == new)))
            conn.execute(update(permissions).where(and_(permissions.c.kind == kind,
                                                        permissions.c.resource == old))
                         .values(resource=new))
        self.db.execute_write_fn(work)

    def delete_resource(self, kind: str, resource: str) -> int:
        """Remove every grant on a deleted resource; the number removed."""
        with self.db.write() as conn:
            return int(conn.execute(delete(permissions).where(and_(
                permissions.c.kind == kind, permissions.c.resource == str(resource))))
                .rowcount)

    # -- logged models -----------------------------------------------------------------

    def create_logged_model(self, experiment_id: str, name: str, artifact_root: str,
                            creator: str | None, source_run_id: str | None = None,
                            model_type: str | None = None,
                            tags: dict[str, str] | None = None,
                            params: dict[str, str] | None = None) -> LoggedModel:
        """A pending logged model whose files go under ``artifact_root/models/<id>``."""
        model_id = "m-" + uuid.uuid4().hex
        now = _now()
        location = f"{artifact_root.rstrip('/')}/models/{model_id}/artifacts"
        with self.db.write() as conn:
            conn.execute(logged_models.insert().values(
                model_id=model_id, experiment_id=str(experiment_id), name=name,
                artifact_location=location, status="LOGGED_MODEL_PENDING", model_type=model_type,
                source_run_id=source_run_id, creator=creator, created=now, updated=now,
                deleted=False, tags=json.dumps(tags or {}), params=json.dumps(params or {})))
        return self.get_logged_model(model_id)

    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        with self.db.read() as conn:
            row = conn.execute(select(logged_models)
                               .where(logged_models.c.model_id == model_id)).first()
        if row is None or (row.deleted and not allow_deleted):
            raise NotFound(f"No logged model with id {model_id!r}.")
        return _logged_model(row)

    def update_logged_model(self, model_id: str, status: str | None = None,
                            set_tags: dict[str, str] | None = None,
                            delete_tag: str | None = None,
                            params: dict[str, str] | None = None,
                            deleted: bool | None = None) -> LoggedModel:
        """Change a logged model's status, tags, params or deletion; raises NotFound."""
        def work(conn: Any) -> None:
            row = conn.execute(select(logged_models)
                               .where(logged_models.c.model_id == model_id)).first()
            if row is None or row.deleted:
                raise NotFound(f"No logged model with id {model_id!r}.")
            values: dict[str, Any] = {"updated": _now()}
            if status is not None:
                values["status"] = status
            if set_tags or delete_tag is not None:
                tags = json.loads(row.tags)
                tags.update(set_tags or {})
                if delete_tag is not None:
                    if delete_tag not in tags:
                        raise NotFound(f"Logged model {model_id} has no tag {delete_tag!r}.")
                    del tags[delete_tag]
                values["tags"] = json.dumps(tags)
            if params:
                merged = json.loads(row.params)
                merged.update(params)
                values["params"] = json.dumps(merged)
            if deleted is not None:
                values["deleted"] = deleted
            conn.execute(update(logged_models).where(logged_models.c.model_id == model_id)
                         .values(**values))
        self.db.execute_write_fn(work)
        return self.get_logged_model(model_id, allow_deleted=True)

    def search_logged_models(self, experiment_ids: list[str], max_results: int = 100,
                             offset: int = 0, source_run_id: str | None = None,
                             name: str | None = None) -> tuple[list[LoggedModel], bool]:
        """Logged models of the experiments, newest first, and whether more follow."""
        query = select(logged_models).where(logged_models.c.deleted.is_(False))
        if experiment_ids:
            query = query.where(logged_models.c.experiment_id.in_(experiment_ids))
        if source_run_id is not None:
            query = query.where(logged_models.c.source_run_id == source_run_id)
        if name is not None:
            query = query.where(logged_models.c.name == name)
        query = query.order_by(logged_models.c.created.desc(), logged_models.c.model_id)
        with self.db.read() as conn:
            rows = conn.execute(query.offset(offset).limit(max_results + 1)).all()
        return [_logged_model(r) for r in rows[:max_results]], len(rows) > max_results


def _logged_model(row: Any) -> LoggedModel:
    return LoggedModel(
        model_id=row.model_id, experiment_id=row.experiment_id, name=row.name,
        artifact_location=row.artifact_location, status=row.status, created=row.created,
        updated=row.updated, creator=row.creator, model_type=row.model_type,
        source_run_id=row.source_run_id, status_message=row.status_message,
        tags=json.loads(row.tags), params=json.loads(row.params), deleted=bool(row.deleted))
