"""The tracking service: the Client, the module-level API, the background writer and
run-context capture."""

from ..store.search import quote_literal
from .client import Client

__all__ = ["Client", "quote_literal"]
