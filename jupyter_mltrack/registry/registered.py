"""Registered models: create, read, search, describe and tag."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..entities import PagedList, RegisteredModel
from ..tracking import fluent
from ..tracking import validation as v
from ..tracking.context import current_user
from .validation import model_name

if TYPE_CHECKING:
    from ..tracking.client import Client


def create_registered_model(name: str, tags: dict[str, Any] | None = None,
                            description: str | None = None, *,
                            client: Client | None = None) -> RegisteredModel:
    """Create an empty registered model (``register_model`` creates one when needed)."""
    return fluent.client(client).registry_store.create_registered_model(
        model_name(name), current_user(), clean_tags(tags), description
    )


def get_registered_model(name: str, *, client: Client | None = None) -> RegisteredModel:
    """A registered model with its tags, aliases and newest version in each stage."""
    return fluent.client(client).registry_store.get_registered_model(model_name(name))


def search_registered_models(filter_string: str | None = None, max_results: int = 1000,
                             order_by: Sequence[str] | str | None = None,
                             page_token: str | None = None, *,
                             client: Client | None = None) -> PagedList:
    """Registered models matching a filter such as ``"name LIKE 'churn%'"`` or
    ``"tags.team = 'risk'"``, by name."""
    return fluent.client(client).registry_store.search_registered_models(
        filter_string, max_results, _order(order_by), page_token
    )


def update_registered_model(name: str, description: str, *,
                            client: Client | None = None) -> RegisteredModel:
    """Set the description of a registered model."""
    store = fluent.client(client).registry_store
    store.update_registered_model(model_name(name), description=str(description))
    return get_registered_model(name, client=client)


def set_registered_model_tag(name: str, key: str, value: Any, *,
                             client: Client | None = None) -> None:
    fluent.client(client).registry_store.update_registered_model(model_name(name),
                                               set_tags=clean_tags({key: value}))


def delete_registered_model_tag(name: str, key: str, *, client: Client | None = None) -> None:
    store = fluent.client(client).registry_store
    store.update_registered_model(model_name(name), delete_tags=[key])


def clean_tags(tags: dict[str, Any] | None) -> dict[str, str]:
    return {v.validate_key(k, "tag key"): v.tag_value(x) for k, x in (tags or {}).items()}


def _order(order_by: Sequence[str] | str | None) -> list[str] | None:
    if order_by is None:
        return None
    return [order_by] if isinstance(order_by, str) else list(order_by)
