"""Checks of what users give the registry: model names, version numbers, comments."""

from __future__ import annotations

import re
from typing import Any

from ..errors import InvalidParameter
from ..uris import MAX_VERSION, parse_version

MAX_NAME = 256
_BAD_NAME = re.compile(r"[/@%:\x00-\x1f]")


def model_name(name: Any) -> str:
    """A valid registered model name, or a clear error."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameter("A registered model needs a non-empty name, such as 'churn'.")
    if name != name.strip():
        raise InvalidParameter(f"Model name {name!r} starts or ends with spaces; remove them.")
    if len(name) > MAX_NAME:
        raise InvalidParameter(f"Model name is {len(name)} characters; the limit is {MAX_NAME}.")
    if _BAD_NAME.search(name):
        raise InvalidParameter(
            f"Model name {name!r} contains '/', '@', '%', ':' or a control character; these "
            "would make models:/ URIs ambiguous. Use letters, digits, '-', '_', '.' or spaces."
        )
    return name


def version_number(version: Any) -> int:
    """A version number from an int or a string of digits."""
    if isinstance(version, bool):
        raise InvalidParameter(f"{version!r} is not a version number; versions are 1, 2, 3...")
    if isinstance(version, int) and 0 < version <= MAX_VERSION:
        return version
    if isinstance(version, str) and parse_version(version.strip()) is not None:
        return int(version)
    raise InvalidParameter(f"{version!r} is not a version number; versions are 1, 2, 3... "
                           f"(ASCII digits, at most {MAX_VERSION}).")


def comment_text(comment: Any) -> str | None:
    """A comment for the history: stripped text of at most 8,000 characters, or None."""
    if comment is None:
        return None
    if not isinstance(comment, str):
        raise InvalidParameter(f"A comment must be text, not {type(comment).__name__}.")
    comment = comment.strip()
    if len(comment) > 8000:
        raise InvalidParameter("A comment is limited to 8,000 characters.")
    return comment or None
