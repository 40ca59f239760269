"""Search over experiments: MLflow's ``search_experiments`` filters, order and pages.

Filters name ``name``, ``experiment_id``, ``creation_time``, ``last_update_time`` and
``tags.<key>`` with the run grammar of ``store/search.py`` (OR, parentheses and NOT
included); every literal is a bound parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, not_, select, true

from ..errors import InvalidFilter, InvalidParameter
from . import schema as t
from .search import Compare, parse_filter, parse_order_by_list
from .sql_search import _STRING_OPS, TreeCompiler, _apply, decode_token, encode_token

MAX_EXPERIMENT_RESULTS = 50_000

_FIELDS: dict[str, tuple[Any, str]] = {
    "name": (t.experiments.c.name, "str"),
    "experiment_id": (t.experiments.c.experiment_id, "id"),
    "creation_time": (t.experiments.c.creation_time, "num"),
    "last_update_time": (t.experiments.c.last_update_time, "num"),
}
_NUMERIC_OPS = ("=", "!=", "<", "<=", ">", ">=")
_ID_OPS = ("=", "!=", "IN", "NOT IN")
_KNOWN = "name, experiment_id, creation_time, last_update_time or tags.<key>"


class _Compiler(TreeCompiler):
    def compare(self, node: Compare) -> Any:
        kind, key = node.field.kind, node.field.key
        if kind == "tag":
            return self.tag(node)
        if kind not in (None, "attribute") or key.lower() not in _FIELDS:
            shown = f"{kind}s.{key}" if kind not in (None, "attribute") else repr(key)
            raise self.error(f"Experiments cannot be searched by {shown}; use {_KNOWN}",
                             node.field.position)
        column, what = _FIELDS[key.lower()]
        if node.op in ("IS NULL", "IS NOT NULL"):
            raise self.error(f"{key} is always set; IS NULL applies to tags only",
                             node.position)
        if what == "str":
            if not node.quoted or node.op not in _STRING_OPS:
                raise self.error("name is text; compare it with =, !=, LIKE, ILIKE or IN and "
                                 "a quoted value, e.g. name LIKE 'mnist%'", node.position)
            return _apply(column, node.op, node.value)
        allowed = _ID_OPS if what == "id" else _NUMERIC_OPS
        if node.op not in allowed:
            raise self.error(f"{key} supports {', '.join(allowed)}", node.position)
        return _apply(column, node.op, self.integers(node))

    def integers(self, node: Compare) -> Any:
        values = node.value if isinstance(node.value, tuple) else (node.value,)
        out = []
        for v in values:
            try:
                number = int(v) if isinstance(v, str) else v
            except ValueError:
                number = None
            if not isinstance(number, int) or isinstance(number, bool):
                raise self.error(f"{node.field.key} takes whole numbers, not {v!r}",
                                 node.position)
            out.append(number)
        return tuple(out) if isinstance(node.value, tuple) else out[0]

    def tag(self, node: Compare) -> Any:
        et = t.experiment_tags
        key = node.field.key
        if node.op in ("IS NULL", "IS NOT NULL"):
            has = t.experiments.c.experiment_id.in_(
                select(et.c.experiment_id).where(et.c.key == key))
            return has if node.op == "IS NOT NULL" else not_(has)
        if not node.quoted or node.op not in _STRING_OPS:
            raise self.error(f"tags.{key} is text; compare it with =, !=, LIKE, ILIKE or IN "
                             f"and a quoted value, e.g. tags.{key} = 'x'", node.position)
        return t.experiments.c.experiment_id.in_(select(et.c.experiment_id).where(
            et.c.key == key, _apply(et.c.value, node.op, node.value)))


def _order(order_by: Sequence[str] | None) -> list[Any]:
    clauses: list[Any] = []
    has_id = False
    for text, ob in parse_order_by_list(order_by or ["creation_time DESC"]):
        key = ob.field.key.lower()
        if ob.field.kind not in (None, "attribute") or key not in _FIELDS:
            raise InvalidFilter(f"order_by {text!r}: experiments are ordered by name, "
                                "experiment_id, creation_time or last_update_time")
        column = _FIELDS[key][0]
        has_id = has_id or key == "experiment_id"
        clauses.append(column.asc() if ob.ascending else column.desc())
    if not has_id:
        clauses.append(t.experiments.c.experiment_id.asc())
    return clauses


def page_of_experiments(conn: Connection, lifecycle: Any, max_results: int,
                        filter_string: str | None, order_by: Sequence[str] | None,
                        page_token: str | None) -> tuple[list[int], str | None]:
    """Ids of one page of matching experiments, in order, and the next page token."""
    if isinstance(max_results, bool) or not isinstance(max_results, int) or \
            not 0 < max_results <= MAX_EXPERIMENT_RESULTS:
        raise InvalidParameter(
            f"max_results must be a whole number from 1 to {MAX_EXPERIMENT_RESULTS:,}, "
            f"not {max_results!r}."
        )
    offset = decode_token(page_token)
    node = parse_filter(filter_string)
    condition = true() if node is None else _Compiler(filter_string or "").compile(node)
    query = (select(t.experiments.c.experiment_id).where(condition, lifecycle)
             .order_by(*_order(order_by)).limit(max_results + 1).offset(offset))
    ids = [row[0] for row in conn.execute(query)]
    token = None
    if len(ids) > max_results:
        ids = ids[:max_results]
        token = encode_token(offset + max_results)
    return ids, token
