"""The error hierarchy of jupyter_mltrack.

Every error the package raises on purpose derives from :class:`MLTrackError`;
lower-layer errors (SQLAlchemy, OS, fsspec) are mapped at the layer boundary
with ``raise ... from exc``::

    MLTrackError
    ├── InvalidParameter          bad input from the caller (HTTP 400)
    │   ├── InvalidFilter         a search filter that does not parse
    │   ├── InvalidArtifactPath   a path that escapes the artifact root
    │   ├── InvalidURI            a runs:/ or models:/ URI that does not parse
    │   ├── InvalidModel          no MLmodel file there, or one that is malformed
    │   ├── SignatureError        model input that does not fit the model's signature
    │   ├── ParamConflict         a param logged again with another value
    │   └── InvalidProject        an MLproject file, entry point or parameter value
    ├── NotFound                  the thing asked for does not exist (HTTP 404)
    │   ├── ExperimentNotFound
    │   ├── RunNotFound
    │   ├── RegisteredModelNotFound
    │   └── ModelVersionNotFound
    ├── AlreadyExists             a unique name taken (HTTP 409)
    ├── InvalidState              the operation does not fit the object's state (HTTP 409)
    │   └── StageTransitionDenied a registry transition refused by policy or gate
    ├── UntrustedModel            loading it would run code from outside the store (HTTP 403)
    ├── ExecutionFailed           a project command or notebook failed, or cannot run here
    ├── StoreError                the store could not do its work (HTTP 500)
    │   ├── WriteFailed           the background writer gave up on a batch
    │   ├── SchemaError           the database schema is newer or broken
    │   ├── ForeignStore          a database or folder of another program (MLflow...)
    │   ├── ArtifactError         an artifact file could not be written (disk full...)
    │   └── ArtifactUnavailable   remote files (S3, HTTP...) unreachable or refused (HTTP 502)
    └── MissingDependency         an optional extra is not installed

    UserWarning
    └── UnknownKeyWarning         a search named a key that no searched run has
"""

from __future__ import annotations

import re


class MLTrackError(Exception):
    """Base class of every error raised by jupyter_mltrack."""

    http_status = 500


class InvalidParameter(MLTrackError, ValueError):
    """The caller passed a value that cannot be used; the message says how to fix it."""

    http_status = 400


_SHOWN = 100  # characters of a long filter line an InvalidFilter message shows
_LONG_WORD = re.compile(r"\S{51,}")  # a key or token longer than half the window


class InvalidFilter(InvalidParameter):
    """A search filter or order-by clause that does not parse.

    ``position`` is the 0-based offset of the problem in ``text``.
    """

    def __init__(self, message: str, text: str = "", position: int | None = None):
        self.text = text
        self.position = position
        # A key or token quoted from a long filter is shortened in the message.
        message = _LONG_WORD.sub(lambda m: m.group()[:_SHOWN // 3] + "..." + m.group()[-10:],
                                 message)
        if text and position is not None:
            # The line holding the problem, so that the caret stands under it ("the end
            # of the filter" is shown after its last character, not on a blank line).
            shown = min(position, len(text.rstrip()))
            start = text.rfind("\n", 0, shown) + 1
            end = text.find("\n", shown)
            line = text[start:] if end == -1 else text[start:end]
            column = shown - start
            if len(line) > _SHOWN:  # a window around the problem, not the whole filter
                left = max(0, min(column - _SHOWN // 2, len(line) - _SHOWN))
                head = "..." if left else ""
                tail = "..." if left + _SHOWN < len(line) else ""
                line = head + line[left:left + _SHOWN] + tail
                column = column - left + len(head)
            pointer = " " * column + "^"
            message = f"{message} (at position {position})\n  {line}\n  {pointer}"
        super().__init__(message)


class InvalidArtifactPath(InvalidParameter):
    """An artifact path that is absolute, escapes the artifact root or is malformed."""


class InvalidURI(InvalidParameter):
    """A model or run URI that does not parse."""


class ParamConflict(InvalidParameter):
    """A parameter was logged again with a different value; params are immutable."""


class InvalidModel(InvalidParameter):
    """A location that holds no model (no MLmodel file), or a malformed one."""


class SignatureError(InvalidParameter):
    """Model input that does not match the model's signature (column, type or shape)."""


class InvalidProject(InvalidParameter):
    """An MLproject file, entry point or parameter value that cannot be used."""


class NotFound(MLTrackError, LookupError):
    """The object asked for does not exist."""

    http_status = 404


class ExperimentNotFound(NotFound):
    """No experiment with that id or name."""


class RunNotFound(NotFound):
    """No run with that id."""


class RegisteredModelNotFound(NotFound):
    """No registered model with that name."""


class ModelVersionNotFound(NotFound):
    """No such version of a registered model."""


class AlreadyExists(MLTrackError):
    """A name that must be unique is taken."""

    http_status = 409


class InvalidState(MLTrackError):
    """The operation does not fit the current state of the object."""

    http_status = 409


class StageTransitionDenied(InvalidState):
    """A registry stage transition refused by a policy or a failing gate."""


class UntrustedModel(MLTrackError):
    """Loading this model would run code (pickle, shipped code) from outside the store.

    Pass ``trust=True`` to load it when you know where it comes from.
    """

    http_status = 403


class ExecutionFailed(MLTrackError):
    """A project command or notebook failed, or its environment cannot be built here."""

    http_status = 500


class StoreError(MLTrackError):
    """The store could not complete an operation."""

    http_status = 500


class WriteFailed(StoreError):
    """The background writer could not store a batch after retrying."""


class SchemaError(StoreError):
    """The database schema cannot be used by this version of jupyter_mltrack."""


class ForeignStore(StoreError):
    """The tracking URI points at something jupyter_mltrack does not own: an MLflow
    database or ``mlruns/`` folder, another program's database, a file that is not
    SQLite. Nothing there was changed."""


class ArtifactError(StoreError):
    """An artifact file could not be written: the disk is full, a folder stands where
    the file should go, permissions. ``path`` is the file; nothing partial is left."""

    def __init__(self, message: str, path: str = ""):
        self.path = path
        super().__init__(message)


class ArtifactUnavailable(StoreError):
    """Files behind a remote URL (s3://, gs://, http://...) could not be read or written:
    missing credentials, access denied, or no network path to the server."""

    http_status = 502


class MissingDependency(MLTrackError, ImportError):
    """An optional dependency is not installed; the message names the extra."""


#: HTTP status for each error class, used by every server of the project.
def http_status_for(exc: BaseException) -> int:
    """Return the HTTP status code that represents ``exc``."""
    if isinstance(exc, MLTrackError):
        return exc.http_status
    return 500


class UnknownKeyWarning(UserWarning):
    """A search filter named a metric, param or tag key that no searched run has (a
    typo, most likely); the message names the closest existing keys."""
