"""Search over registered models and model versions: the filter grammar compiled to SQL.

The grammar is the one runs use (``store/search.py``). Versions know::

    name, version (version_number), run_id, source, current_stage (stage), user_id,
    description, creation_timestamp, last_updated_timestamp, alias,
    tags.<key>, and metrics.<key> / params.<key> of the source run

Registered models know ``name``, ``description``, ``creation_timestamp``,
``last_updated_timestamp`` and ``tags.<key>``. Every literal is a bound parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, not_, select, true

from ..entities import LifecycleStage, Stage
from ..errors import InvalidFilter, InvalidParameter
from . import schema as t
from .search import Compare, parse_filter, parse_order_by_list
from .sql_search import (
    _STRING_OPS,
    MAX_RESULTS_LIMIT,
    TreeCompiler,
    _apply,
    _as_numbers,
    _numeric_param,
    decode_token,
    encode_token,
)

mv = t.model_versions
rm = t.registered_models

_VERSION_FIELDS: dict[str, tuple[Any, str]] = {
    "name": (rm.c.name, "str"),
    "version": (mv.c.version, "num"),
    "version_number": (mv.c.version, "num"),
    "run_id": (mv.c.run_id, "str"),
    "source": (mv.c.source, "str"),
    "source_path": (mv.c.source, "str"),
    "current_stage": (mv.c.current_stage, "stage"),
    "stage": (mv.c.current_stage, "stage"),
    "user_id": (mv.c.user_id, "str"),
    "description": (mv.c.description, "str"),
    "creation_timestamp": (mv.c.creation_time, "num"),
    "creation_time": (mv.c.creation_time, "num"),
    "timestamp": (mv.c.creation_time, "num"),  # MLflow's order_by key
    "last_updated_timestamp": (mv.c.last_updated_time, "num"),
    "last_updated_time": (mv.c.last_updated_time, "num"),
    "lifecycle_stage": (mv.c.lifecycle_stage, "str"),
}

_MODEL_FIELDS: dict[str, tuple[Any, str]] = {
    "name": (rm.c.name, "str"),
    "description": (rm.c.description, "str"),
    "creation_timestamp": (rm.c.creation_time, "num"),
    "creation_time": (rm.c.creation_time, "num"),
    "timestamp": (rm.c.creation_time, "num"),  # MLflow's order_by key
    "last_updated_timestamp": (rm.c.last_updated_time, "num"),
    "last_updated_time": (rm.c.last_updated_time, "num"),
}


class _Compiler(TreeCompiler):
    def __init__(self, text: str, fields: dict[str, tuple[Any, str]], what: str,
                 versions: bool):
        super().__init__(text)
        self.fields = fields
        self.what = what
        self.versions = versions

    def known(self) -> str:
        extra = ", alias, tags.<key>, metrics.<key>, params.<key>" if self.versions \
            else ", tags.<key>"
        names = sorted(k for k in self.fields if not k.endswith("_time") and k not in
                       ("source_path", "version_number", "stage"))
        return ", ".join(names) + extra

    def compare(self, node: Compare) -> Any:
        kind, key = node.field.kind, node.field.key
        if kind in (None, "attribute"):
            if self.versions and key.lower() == "alias":
                return self.alias(node)
            if key.lower() not in self.fields:
                raise self.error(f"{self.what} cannot be searched by {key!r}; use "
                                 f"{self.known()}", node.field.position)
            return self.attribute(node, *self.fields[key.lower()])
        if kind == "tag":
            return self.tag(node)
        if kind == "dataset":
            raise self.error(f"{self.what} cannot be searched by datasets.{key}; search runs "
                             "by datasets with search_runs()", node.field.position)
        if not self.versions:
            raise self.error(f"Registered models have no {kind}s; search versions by "
                             f"{kind}s.{key} with search_model_versions()",
                             node.field.position)
        return self.run_value(node)

    def attribute(self, node: Compare, column: Any, kind: str) -> Any:
        name = node.field.key
        if node.op in ("IS NULL", "IS NOT NULL"):
            return column.is_(None) if node.op == "IS NULL" else column.is_not(None)
        if kind == "num":
            if node.op in ("LIKE", "NOT LIKE", "ILIKE", "NOT ILIKE"):
                raise self.error(f"{name} is a number; LIKE does not apply", node.position)
            return _apply(column, node.op, _as_numbers(node.value))
        if not node.quoted:
            raise self.error(f"{name} is text; quote the value, e.g. {name} = "
                             f"'{_first(node.value)}'", node.position)
        if node.op not in _STRING_OPS:
            raise self.error(f"{name} supports =, !=, LIKE, ILIKE and IN", node.position)
        value = node.value
        if kind == "stage" and "LIKE" not in node.op:
            try:
                values = tuple(Stage.parse(v).value for v in
                               (value if isinstance(value, tuple) else (value,)))
            except InvalidParameter as exc:
                raise self.error(str(exc), node.position) from None
            value = values if isinstance(value, tuple) else values[0]
        return _apply(column, node.op, value)

    def tag(self, node: Compare) -> Any:
        table, owner, id_col = ((t.model_version_tags, mv.c.id, "version_id") if self.versions
                                else (t.registered_model_tags, rm.c.id, "model_id"))
        key = node.field.key
        if node.op in ("IS NULL", "IS NOT NULL"):
            has = owner.in_(select(table.c[id_col]).where(table.c.key == key))
            return has if node.op == "IS NOT NULL" else not_(has)
        if not node.quoted:
            raise self.error(f"tags.{key} holds text; quote the value, e.g. tags.{key} = "
                             f"'{_first(node.value)}'", node.position)
        if node.op not in _STRING_OPS:
            raise self.error(f"{node.op} compares numbers; tags are text and support "
                             "=, !=, LIKE, ILIKE and IN", node.position)
        return owner.in_(select(table.c[id_col]).where(
            table.c.key == key, _apply(table.c.value, node.op, node.value)))

    def alias(self, node: Compare) -> Any:
        ma = t.model_aliases
        if node.op in ("IS NULL", "IS NOT NULL"):
            has = mv.c.id.in_(select(ma.c.version_id))
            return has if node.op == "IS NOT NULL" else not_(has)
        if not node.quoted or node.op not in _STRING_OPS:
            raise self.error("alias is text; write e.g. alias = 'champion'", node.position)
        return mv.c.id.in_(select(ma.c.version_id).where(_apply(ma.c.alias, node.op,
                                                                node.value)))

    def run_value(self, node: Compare) -> Any:
        """metrics.x / params.x of the version's source run."""
        key = node.field.key
        runs = t.runs
        table = t.latest_metrics if node.field.kind == "metric" else t.params
        prefix = "metrics" if node.field.kind == "metric" else "params"
        base = select(runs.c.run_uuid).join(table, table.c.run_id == runs.c.id)
        if node.op in ("IS NULL", "IS NOT NULL"):
            has = mv.c.run_id.in_(base.where(table.c.key == key))
            return has if node.op == "IS NOT NULL" else not_(has)
        if table is t.latest_metrics:
            if node.quoted or "LIKE" in node.op:
                raise self.error(f"metrics.{key} is a number; compare it with a number, "
                                 f"e.g. metrics.{key} > 0.5", node.position)
            condition = _apply(table.c.value, node.op, node.value)
        elif _numeric_param(node):
            condition = _apply(table.c.num, node.op, _as_numbers(node.value))
        else:
            if node.op not in _STRING_OPS:
                raise self.error(f"{prefix}.{key}: {node.op} needs a number", node.position)
            condition = _apply(table.c.value, node.op, node.value)
        return mv.c.run_id.in_(base.where(table.c.key == key, condition))


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, tuple) else value


def _check_max(max_results: int) -> None:
    if not isinstance(max_results, int) or not 0 < max_results <= MAX_RESULTS_LIMIT:
        raise InvalidParameter(
            f"max_results must be a whole number from 1 to {MAX_RESULTS_LIMIT}, "
            f"not {max_results!r}."
        )


def _order(order_by: Sequence[str] | None, fields: dict[str, tuple[Any, str]],
           default: list[Any]) -> list[Any]:
    clauses: list[Any] = []
    for text, ob in parse_order_by_list(order_by):
        if ob.field.kind not in (None, "attribute") or ob.field.key.lower() not in fields:
            names = ", ".join(sorted(k for k in fields if not k.endswith("_time")))
            raise InvalidFilter(f"order_by {text!r}: order by one of {names}")
        column = fields[ob.field.key.lower()][0]
        clauses.append(column.asc() if ob.ascending else column.desc())
    return clauses + default


def page_of_versions(conn: Connection, filter_string: str | None, max_results: int,
                     order_by: Sequence[str] | None, page_token: str | None,
                     include_deleted: bool) -> tuple[list[Any], str | None]:
    """Rows of one page of matching versions, and the next token."""
    _check_max(max_results)
    node = parse_filter(filter_string)
    condition = true() if node is None else _Compiler(
        filter_string or "", _VERSION_FIELDS, "Model versions", versions=True).compile(node)
    if not include_deleted:
        condition = and_(condition, mv.c.lifecycle_stage == LifecycleStage.ACTIVE.value)
    offset = decode_token(page_token)
    query = (select(mv).join(rm, rm.c.id == mv.c.model_id).where(condition)
             .order_by(*_order(order_by, _VERSION_FIELDS, [rm.c.name.asc(), mv.c.version.desc()]))
             .limit(max_results + 1).offset(offset))
    rows = list(conn.execute(query).all())
    return _page(rows, max_results, offset)


def page_of_models(conn: Connection, filter_string: str | None, max_results: int,
                   order_by: Sequence[str] | None, page_token: str | None
                   ) -> tuple[list[Any], str | None]:
    """Rows of one page of matching registered models, and the next token."""
    _check_max(max_results)
    node = parse_filter(filter_string)
    condition = true() if node is None else _Compiler(
        filter_string or "", _MODEL_FIELDS, "Registered models", versions=False).compile(node)
    offset = decode_token(page_token)
    query = (select(rm).where(condition)
             .order_by(*_order(order_by, _MODEL_FIELDS, [rm.c.name.asc()]))
             .limit(max_results + 1).offset(offset))
    rows = list(conn.execute(query).all())
    return _page(rows, max_results, offset)


def _page(rows: list[Any], max_results: int, offset: int) -> tuple[list[Any], str | None]:
    if len(rows) > max_results:
        return rows[:max_results], encode_token(offset + max_results)
    return rows, None
