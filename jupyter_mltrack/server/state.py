"""What one server process holds: its configuration and the stores it opened.

Nothing here is state another worker must see: every request reads the databases.
Each uvicorn worker builds its own :class:`ServerState` from the environment
(``MLTRACK_SERVER_CONFIG``, JSON written by ``mltrack server``).
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..artifacts import artifact_repository, clean_artifact_path
from ..errors import InvalidArtifactPath, InvalidParameter
from ..store import RegistryStore, TrackingStore, open_store, registry_store

ENV_CONFIG = "MLTRACK_SERVER_CONFIG"
#: The scheme MLflow clients resolve to this server's artifact proxy.
PROXY_SCHEME = "mlflow-artifacts:"

LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass
class ServerConfig:
    """How a team server runs (``mltrack server`` options)."""

    backend_store_uri: str
    artifacts_destination: str
    auth_db_uri: str | None = None
    host: str = "127.0.0.1"
    port: int = 5000
    #: None: on when bound to a non-loopback address, off on loopback
    auth: bool | None = None
    #: Host header values accepted ("*" accepts any); empty: the loopback names + host
    allowed_hosts: list[str] = field(default_factory=list)
    #: Origins allowed to call from a browser; empty: none
    cors_origins: list[str] = field(default_factory=list)
    #: largest JSON body, bytes
    max_body_bytes: int = 16 * 1024 * 1024
    #: largest artifact upload, bytes
    max_upload_bytes: int = 5 * 1024 ** 3
    #: permission on experiments and models that nobody granted: READ, EDIT, MANAGE or NONE
    default_permission: str = "READ"

    @property
    def auth_enabled(self) -> bool:
        if self.auth is not None:
            return self.auth
        return self.host not in LOOPBACK

    def resolved_auth_db(self) -> str:
        """The server database: given, or beside a SQLite store, or the same PostgreSQL."""
        if self.auth_db_uri:
            return self.auth_db_uri
        uri = self.backend_store_uri
        if uri.startswith("sqlite:///"):
            path = Path(uri[len("sqlite:///"):])
            return f"sqlite:///{path.with_name('mltrack-server.db')}"
        return uri

    def hosts(self) -> list[str]:
        if self.allowed_hosts:
            return self.allowed_hosts
        hosts = ["127.0.0.1", "localhost", "[::1]"]
        if self.host not in ("0.0.0.0", "::") and self.host not in hosts:  # noqa: S104
            hosts.append(self.host)
        return hosts

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> ServerConfig:
        raw = os.environ.get(ENV_CONFIG)
        if not raw:
            raise InvalidParameter(f"{ENV_CONFIG} is not set; start the server with "
                                   "`mltrack server`.")
        return cls(**json.loads(raw))


def normalise_destination(dest: str) -> str:
    """An artifact destination as a URL or an absolute local path, without a trailing /."""
    if "://" in dest and not dest.startswith("file://"):
        return dest.rstrip("/")
    return str(Path(dest.removeprefix("file://")).expanduser().resolve())


class ServerState:
    """The stores of one server process, opened on first use."""

    def __init__(self, config: ServerConfig):
        self.config = config
        self.destination = normalise_destination(config.artifacts_destination)
        self._lock = threading.Lock()
        self._store: TrackingStore | None = None
        self._server_store: Any = None

    @property
    def store(self) -> TrackingStore:
        if self._store is None:
            with self._lock:
                if self._store is None:
                    self._store = open_store(self.config.backend_store_uri, self.destination)
        return self._store

    @property
    def registry(self) -> RegistryStore:
        return registry_store(self.store)

    @property
    def server_store(self) -> Any:
        """Users, tokens, permissions and logged models (``store.server_sql``)."""
        if self._server_store is None:
            self.store  # noqa: B018 - the tracking schema first, in a shared database
            with self._lock:
                if self._server_store is None:
                    from ..store.server_sql import ServerStore

                    self._server_store = ServerStore(self.config.resolved_auth_db())
        return self._server_store

    @property
    def client(self) -> Any:
        from ..tracking.client import Client

        return Client(self.config.backend_store_uri, self.destination)

    def open(self) -> None:
        """Open every store now (at startup, so a bad URI fails before serving)."""
        self.server_store  # noqa: B018

    # -- artifact locations as MLflow clients see them -----------------------------------

    def to_client(self, uri: str | None) -> str | None:
        """A location under the destination as ``mlflow-artifacts:/<relative path>``."""
        if not uri:
            return uri
        dest = self.destination
        if uri == dest:
            return PROXY_SCHEME + "/"
        if uri.startswith(dest + "/"):
            return PROXY_SCHEME + "/" + uri[len(dest) + 1:]
        return uri

    def from_client(self, uri: str) -> str:
        """The real location of an ``mlflow-artifacts:`` URI (or of one under the
        destination); anything else is refused, so a client never names a folder or
        bucket of its own choosing."""
        text = uri.strip()
        if text.startswith(PROXY_SCHEME):
            rest = text[len(PROXY_SCHEME):]
            if rest.startswith("//"):  # mlflow-artifacts://host/path: this server only
                rest = "/" + rest[2:].split("/", 1)[-1] if "/" in rest[2:] else "/"
            return self.location(rest.lstrip("/"))
        dest = self.destination
        if text == dest or text.startswith(dest + "/"):
            return self.location(text[len(dest):].lstrip("/"))
        raise InvalidArtifactPath(
            f"Artifact location {uri!r} is outside this server's artifact store; leave it "
            "out (the server chooses one) or give an mlflow-artifacts:/ URI.")

    def location(self, rel: str) -> str:
        """``destination/rel`` after refusing traversal in every form."""
        clean = clean_artifact_path(rel)
        return f"{self.destination}/{clean}" if clean else self.destination

    def repository(self, rel_root: str = "") -> Any:
        return artifact_repository(self.location(rel_root))
