"""The schema revisions this version knows (stdlib only: read before SQLAlchemy loads)."""

from __future__ import annotations

#: The newest revision in migrations/versions; a test keeps the two in step.
HEAD = "0003"
#: Every revision, oldest first.
ORDER = ("0001", "0002", "0003")
