"""``models:/`` URIs: ``models:/name/3``, ``models:/name/Production``, ``models:/name@champion``
and ``models:/name/latest`` resolved to the version and to where its files are."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..artifacts import artifact_location, register_artifact_uri_resolver
from ..entities import ModelVersion
from ..errors import ModelVersionNotFound
from ..models import register_model_uri_resolver
from ..store.search import quote_literal
from ..tracking import fluent
from ..uris import parse_models_uri
from .validation import model_name

if TYPE_CHECKING:
    from ..tracking.client import Client


def model_version_for(uri: str, client: Client | None = None) -> ModelVersion:
    """The model version a ``models:/`` URI names (deleted versions are refused)."""
    parsed = parse_models_uri(uri)
    name = model_name(parsed.name)
    store = fluent.client(client).registry_store
    if parsed.version is not None:
        version = store.get_model_version(name, parsed.version)
        if version.deleted:
            raise ModelVersionNotFound(
                f"{uri}: version {parsed.version} of {name!r} is deleted; restore it with "
                f"restore_model_version({name!r}, {parsed.version}) or use another version."
            )
        return version
    if parsed.alias is not None:
        from .aliases import get_model_version_by_alias

        return get_model_version_by_alias(name, parsed.alias, client=client)
    model = store.get_registered_model(name)
    if parsed.stage is not None:
        in_stage = [v for v in model.latest_versions if v.current_stage == parsed.stage]
        if not in_stage:
            raise ModelVersionNotFound(
                f"{uri}: no version of {name!r} is in {parsed.stage}; promote one with "
                f"transition_stage({name!r}, <version>, {parsed.stage!r})."
            )
        return in_stage[0]
    page = store.search_model_versions(f"name = {quote_literal(name)}", max_results=1,
                                       order_by=["version DESC"])
    if not len(page):
        raise ModelVersionNotFound(f"{uri}: {name!r} has no active versions.")
    return page[0]


def resolve_models_uri(uri: str, client: Client | None = None) -> str:
    """Where the files of the version a ``models:/`` URI names are.

    Returns the version's source: ``runs:/<run_id>/<path>`` for a model logged in
    a run, or, for one registered from a folder or URL, the copy of it that
    ``register_model`` made under the store's artifact root.
    """
    return model_version_for(uri, client).source



def _version_artifacts(uri: str, tracking_uri: str | None) -> tuple[str, str]:
    """Where a ``models:/`` URI's files are, as a whole artifact root (for
    ``artifacts.download_artifacts``)."""
    from ..tracking.client import Client

    c = Client(tracking_uri) if tracking_uri else None
    root, path = artifact_location(model_version_for(uri, c).source, tracking_uri)
    return (f"{root.rstrip('/')}/{path}" if path else root), ""


register_model_uri_resolver("models", model_version_for)
register_artifact_uri_resolver("models", _version_artifacts)
