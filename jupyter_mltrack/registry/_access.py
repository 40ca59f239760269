"""How the registry functions reach a store: an explicit client, or the fluent one."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ..errors import InvalidParameter
from ..store import registry_store
from ..store.search import quote_literal
from ..tracking.context import current_user
from ..uris import MAX_VERSION, parse_version

if TYPE_CHECKING:
    from ..tracking.client import Client

MAX_NAME = 256
_BAD_NAME = re.compile(r"[/@%:\x00-\x1f]")


def client_of(client: Client | None) -> Client:
    if client is not None:
        return client
    from ..tracking.fluent import client as fluent_client

    return fluent_client()


def store_of(client: Client | None) -> Any:
    """The RegistryStore behind ``client`` (or the fluent API's client)."""
    return registry_store(client_of(client).store)


def user() -> str:
    return current_user()


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
    if comment is None:
        return None
    if not isinstance(comment, str):
        raise InvalidParameter(f"A comment must be text, not {type(comment).__name__}.")
    comment = comment.strip()
    if len(comment) > 8000:
        raise InvalidParameter("A comment is limited to 8,000 characters.")
    return comment or None


quote = quote_literal
