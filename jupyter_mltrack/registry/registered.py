"""Registered models: create, read, search, describe and tag."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..entities import PagedList, RegisteredModel, Stage
from ..errors import InvalidState
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


def rename_registered_model(name: str, new_name: str, *,
                            client: Client | None = None) -> RegisteredModel:
    """Give a registered model another name; ``models:/`` URIs then use the new one."""
    fluent.client(client).registry_store.rename_registered_model(model_name(name),
                                                                 model_name(new_name))
    return get_registered_model(new_name, client=client)


def delete_registered_model(name: str, *, client: Client | None = None) -> None:
    """Delete a registered model with its versions, aliases and history; the runs and
    files they point at stay. Refused while a version is in Staging or Production."""
    store = fluent.client(client).registry_store
    model = store.get_registered_model(model_name(name))
    serving = sorted(f"version {v.version} in {v.current_stage}"
                     for v in model.latest_versions
                     if v.current_stage in (Stage.STAGING.value, Stage.PRODUCTION.value))
    if serving:
        raise InvalidState(
            f"Registered model {name!r} has {', '.join(serving)}; move those versions to "
            f"Archived first (transition_stage({name!r}, <version>, 'Archived')), then "
            "delete the model."
        )
    store.delete_registered_model(model.name)


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
