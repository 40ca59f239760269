"""Parsing of the URIs users pass around: tracking URIs, ``runs:/`` and ``models:/``."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from .errors import InvalidURI

STORE_DIR_NAME = ".mltrack"
DB_FILE_NAME = "mltrack.db"
ARTIFACTS_DIR_NAME = "artifacts"
TRACKING_URI_ENV = "MLTRACK_TRACKING_URI"

_RUN_ID = re.compile(r"[0-9a-f]{32}")
#: Version numbers are positive 64-bit integers (what every supported database stores).
MAX_VERSION = 2**63 - 1
_DIGITS = re.compile(r"[0-9]+", re.ASCII)


@dataclass(frozen=True, slots=True)
class RunsURI:
    """``runs:/<run_id>/<path>``."""

    run_id: str
    path: str


@dataclass(frozen=True, slots=True)
class ModelsURI:
    """``models:/name/3``, ``models:/name/Production`` or ``models:/name@alias``."""

    name: str
    version: int | None = None
    stage: str | None = None
    alias: str | None = None


def parse_runs_uri(uri: str) -> RunsURI:
    """Split ``runs:/<run_id>/<path>`` into its parts."""
    if not uri.startswith("runs:/"):
        raise InvalidURI(f"{uri!r} is not a runs URI; write runs:/<run_id>/<artifact path>.")
    rest = uri[len("runs:/") :].lstrip("/")
    run_id, _, path = rest.partition("/")
    if not _RUN_ID.fullmatch(run_id):
        raise InvalidURI(
            f"{uri!r} does not start with a run id (32 hex characters); "
            "write runs:/<run_id>/<artifact path>."
        )
    return RunsURI(run_id=run_id, path=path.strip("/"))


_STAGES = {"none": "None", "staging": "Staging", "production": "Production", "archived": "Archived"}


def parse_models_uri(uri: str) -> ModelsURI:
    """Parse ``models:/name/<version|stage|latest>`` and ``models:/name@alias``."""
    if not uri.startswith("models:/"):
        raise InvalidURI(f"{uri!r} is not a models URI; write models:/<name>/<version or stage>.")
    rest = unquote(uri[len("models:/") :]).strip("/")
    if "@" in rest and "/" not in rest.split("@", 1)[1]:
        name, alias = rest.rsplit("@", 1)
        if not name or not alias:
            raise InvalidURI(f"{uri!r}: write models:/<name>@<alias>.")
        return ModelsURI(name=name, alias=alias)
    name, sep, ref = rest.rpartition("/")
    if not sep or not name or not ref:
        raise InvalidURI(
            f"{uri!r} names no version; write models:/<name>/<version>, "
            "models:/<name>/<stage> or models:/<name>@<alias>."
        )
    if ref.strip().lstrip("+-").isdigit():  # any digits, signs, spaces: refused unless plain
        return ModelsURI(name=name, version=_version(ref, uri))
    if ref.lower() == "latest":
        return ModelsURI(name=name)
    if ref.lower() in _STAGES:
        return ModelsURI(name=name, stage=_STAGES[ref.lower()])
    raise InvalidURI(
        f"{uri!r}: {ref!r} is neither a version number, 'latest', nor a stage "
        "(None, Staging, Production, Archived)."
    )


def parse_version(value: str) -> int | None:
    """The version number ``value`` spells in ASCII digits (1 to 2**63-1), else None."""
    if not isinstance(value, str) or not _DIGITS.fullmatch(value) or len(value) > 19:
        return None
    number = int(value)
    return number if 0 < number <= MAX_VERSION else None


def _version(ref: str, uri: str) -> int:
    number = parse_version(ref)
    if number is None:
        raise InvalidURI(
            f"{uri!r}: {ref!r} is not a version number; versions are written in ASCII "
            f"digits, from 1 to {MAX_VERSION}."
        )
    return number


def find_store_dir(start: str | os.PathLike[str] | None = None) -> Path:
    """Return the nearest ``.mltrack`` folder from ``start`` upwards, or ``start/.mltrack``.

    The folder is not created here; the store creates it on first use.
    """
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / STORE_DIR_NAME
        if candidate.is_dir():
            return candidate
    return here / STORE_DIR_NAME


def default_tracking_uri(start: str | os.PathLike[str] | None = None) -> str:
    """The tracking URI used when neither ``set_tracking_uri`` nor the env var says otherwise."""
    return sqlite_uri(find_store_dir(start) / DB_FILE_NAME)


def sqlite_uri(path: str | os.PathLike[str]) -> str:
    return "sqlite:///" + str(Path(path).resolve())


def resolve_tracking_uri(uri: str | os.PathLike[str] | None) -> str:
    """Normalise a user-given tracking URI.

    A plain folder or file path becomes a SQLite URI: a folder means
    ``<folder>/mltrack.db``; ``file:`` URIs are accepted too.
    """
    if uri is None or str(uri) == "":
        env = os.environ.get(TRACKING_URI_ENV)
        return resolve_tracking_uri(env) if env else default_tracking_uri()
    text = str(uri)
    if text.startswith("file:"):
        text = unquote(text[len("file:") :])
        if text.startswith("//"):
            text = text[2:]
    if "://" not in text:
        path = Path(text).expanduser()
        if path.suffix in (".db", ".sqlite", ".sqlite3"):
            return sqlite_uri(path)
        return sqlite_uri(path / DB_FILE_NAME)
    scheme = text.split("://", 1)[0].lower()
    known = ("sqlite", "postgresql", "postgres", "mysql", "http", "https")
    if not any(scheme == k or scheme.startswith(k + "+") for k in known):
        raise InvalidURI(
            f"Tracking URI {text!r} has an unknown scheme {scheme!r}; use a folder path, "
            "sqlite:///path/mltrack.db, postgresql://user@host/db or http(s)://server."
        )
    if scheme == "postgres" or scheme.startswith("postgres+"):
        text = "postgresql" + text[len("postgres") :]
    if scheme == "sqlite" and text.startswith("sqlite:///"):
        db_path = text[len("sqlite:///") :]
        if db_path and not db_path.startswith(("/", ":memory:")) and "?" not in db_path:
            return sqlite_uri(db_path)  # relative: pin it to this folder now
    return text


def default_artifact_root(tracking_uri: str) -> str:
    """Artifacts sit beside a SQLite database; other stores need an explicit root."""
    if tracking_uri.startswith("sqlite:///"):
        db = Path(tracking_uri[len("sqlite:///") :])
        return str(db.parent / ARTIFACTS_DIR_NAME)
    env = os.environ.get("MLTRACK_ARTIFACT_ROOT")
    if env:
        return env
    return str(find_store_dir() / ARTIFACTS_DIR_NAME)
