"""What a ``%%track`` cell sets and computes, read from its syntax tree.

The rules (they decide what becomes a param or a metric without running anything):

* **Params** are names bound at the top level of the cell only by assignments of
  literals: numbers (also negative), strings, bytes, booleans, ``None``, and lists,
  tuples, sets and dicts of literals. ``a, b = 1, 2`` binds two params; ``lr: float =
  0.01`` is one. A param assigned more than once with literals takes the last value.
* A name that is also bound any other way anywhere in the cell (inside a loop, an
  ``if`` or ``with`` block, by ``+=``, a walrus, a ``for`` target, an import, a
  function that declares it ``global``...) is not a param: it changes while the cell
  runs. Assignments inside functions and classes bind their own names and are ignored.
* **Metric candidates** are names bound at module scope by at least one computed
  expression (anything but a literal, including ``+=`` and ``:=``), that are not
  params. After the cell runs, the candidates that hold real numbers are metrics.
* A line ending in ``# mltrack: ignore`` leaves every name it binds out of both sets.

Everything here is pure: no IPython, no store.
"""

from __future__ import annotations

import ast
import difflib
import enum
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidParameter

_IGNORE = re.compile(r"#\s*mltrack:\s*ignore\s*$")

#: Kinds of binding, from the most to the least param-like.
LITERAL = "literal"  # top-level statement, literal value: a param candidate
STATIC = "static"  # a literal bound in a nested block or by a walrus: neither
COMPUTED = "computed"  # a computed value: a metric candidate
OTHER = "other"  # for targets, imports, defs, with/except targets, del, match captures


@dataclass(frozen=True, slots=True)
class Site:
    """Where a param's literal value sits in the source (1-based line, byte column)."""

    start: tuple[int, int]
    end: tuple[int, int]
    statement_end: tuple[int, int]
    chained: bool = False  # ``a = b = 1``: the value is shared, so it is never rewritten


@dataclass(frozen=True, slots=True)
class Binding:
    name: str
    kind: str
    line: int
    end_line: int
    site: Site | None = None
    value: Any = None


@dataclass(frozen=True)
class CellCapture:
    """The result of :func:`analyze`."""

    params: dict[str, Any]
    sites: dict[str, list[Site]]
    metric_names: tuple[str, ...]
    bound: frozenset[str]
    ignored: frozenset[str]
    bindings: tuple[Binding, ...] = field(repr=False, default=())
    #: every name the cell reads, anywhere (also inside functions and comprehensions)
    read: frozenset[str] = frozenset()

    def binding_kinds(self, name: str) -> set[str]:
        return {b.kind for b in self.bindings if b.name == name}


def is_literal(node: ast.AST) -> bool:
    """True for a literal the capture rules accept as a param value."""
    if isinstance(node, ast.Constant):
        return node.value is not Ellipsis
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = node.operand
        return isinstance(operand, ast.Constant) and \
            type(operand.value) in (int, float, complex)
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return all(is_literal(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is not None and is_literal(k) for k in node.keys) and \
            all(is_literal(v) for v in node.values)
    return False


def ignored_lines(source: str) -> set[int]:
    """1-based numbers of the lines that end in ``# mltrack: ignore``."""
    return {i for i, line in enumerate(source.splitlines(), 1) if _IGNORE.search(line)}


def analyze(source: str, tree: ast.Module | None = None) -> CellCapture:
    """Params and metric candidates of Python ``source`` (raises SyntaxError if invalid)."""
    if tree is None:
        tree = ast.parse(source)
    bindings = list(_Collector().module(tree))
    ignored_at = ignored_lines(source)
    ignored = {b.name for b in bindings
               if any(line in ignored_at for line in range(b.line, b.end_line + 1))}
    by_name: dict[str, list[Binding]] = {}
    for b in bindings:
        by_name.setdefault(b.name, []).append(b)
    params: dict[str, Any] = {}
    sites: dict[str, list[Site]] = {}
    metrics: list[str] = []
    for name, group in by_name.items():
        if name in ignored:
            continue
        kinds = {b.kind for b in group}
        if kinds == {LITERAL}:
            params[name] = group[-1].value
            sites[name] = [b.site for b in group if b.site is not None]
        elif COMPUTED in kinds:
            metrics.append(name)
    read = frozenset(node.id for node in ast.walk(tree)
                     if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load))
    return CellCapture(params=params, sites=sites, metric_names=tuple(metrics),
                       bound=frozenset(by_name), ignored=frozenset(ignored),
                       bindings=tuple(bindings), read=read)


class _Collector:
    """Walks a module and yields every binding of a module-scope name."""

    def module(self, tree: ast.Module) -> Iterator[Binding]:
        for stmt in tree.body:
            yield from self.statement(stmt, top=True)

    # -- statements at module scope ----------------------------------------------------

    def statement(self, stmt: ast.stmt, top: bool) -> Iterator[Binding]:
        if isinstance(stmt, ast.Assign):
            yield from self.assign(stmt, top)
        elif isinstance(stmt, ast.AnnAssign):
            if stmt.value is not None and isinstance(stmt.target, ast.Name):
                literal = top and is_literal(stmt.value)
                yield self.bind(stmt.target.id, stmt, stmt.value,
                                LITERAL if literal else _kind(stmt.value),
                                site=_site(stmt.value, stmt) if literal else None)
            if stmt.value is not None:
                yield from self.expressions(stmt.value)
        elif isinstance(stmt, ast.AugAssign):
            for name in _names(stmt.target):
                yield self.bind(name, stmt, None, COMPUTED)
            yield from self.expressions(stmt.value)
        elif isinstance(stmt, (ast.For, ast.AsyncFor)):
            for name in _names(stmt.target):
                yield self.bind(name, stmt, None, OTHER, header=True)
            yield from self.expressions(stmt.iter)
            yield from self.block(stmt.body + stmt.orelse)
        elif isinstance(stmt, (ast.While, ast.If)):
            yield from self.expressions(stmt.test)
            yield from self.block(stmt.body + stmt.orelse)
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            for item in stmt.items:
                yield from self.expressions(item.context_expr)
                if item.optional_vars is not None:
                    for name in _names(item.optional_vars):
                        yield self.bind(name, stmt, None, OTHER, header=True)
            yield from self.block(stmt.body)
        elif isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
            yield from self.block(stmt.body)  # type: ignore[attr-defined]
            for handler in stmt.handlers:  # type: ignore[attr-defined]
                if handler.name:
                    yield self.bind(handler.name, handler, None, OTHER, header=True)
                yield from self.block(handler.body)
            yield from self.block(stmt.orelse + stmt.finalbody)  # type: ignore[attr-defined]
        elif isinstance(stmt, ast.Match):
            yield from self.expressions(stmt.subject)
            for case in stmt.cases:
                for node in ast.walk(case.pattern):
                    capture = getattr(node, "name", None) or getattr(node, "rest", None)
                    if isinstance(capture, str):
                        yield self.bind(capture, case.pattern, None, OTHER)
                yield from self.block(case.body)
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            for alias in stmt.names:
                if alias.name != "*":
                    yield self.bind((alias.asname or alias.name).split(".")[0], stmt, None,
                                    OTHER)
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield self.bind(stmt.name, stmt, None, OTHER, header=True)
            for deco in stmt.decorator_list:
                yield from self.expressions(deco)
            if not isinstance(stmt, ast.ClassDef):
                yield from self.global_writes(stmt)
        elif isinstance(stmt, ast.Delete):
            for target in stmt.targets:
                for name in _names(target):
                    yield self.bind(name, stmt, None, OTHER)
        else:
            for child in ast.iter_child_nodes(stmt):
                if isinstance(child, ast.expr):
                    yield from self.expressions(child)

    def block(self, body: list[ast.stmt]) -> Iterator[Binding]:
        for stmt in body:
            yield from self.statement(stmt, top=False)

    def assign(self, stmt: ast.Assign, top: bool) -> Iterator[Binding]:
        value = stmt.value
        chained = len(stmt.targets) > 1
        for target in stmt.targets:
            for name, part in _pair(target, value):
                literal = top and part is not None and is_literal(part)
                kind = LITERAL if literal else (_kind(part) if part is not None else COMPUTED)
                yield self.bind(name, stmt, part, kind,
                                site=_site(part, stmt, chained) if literal and part else None)
        yield from self.expressions(value)

    # -- expressions and inner scopes --------------------------------------------------

    def expressions(self, node: ast.AST) -> Iterator[Binding]:
        """Walrus targets in an expression bind at module scope (even in comprehensions)."""
        stack = [node]
        while stack:
            current = stack.pop()
            if isinstance(current, ast.Lambda):
                continue
            if isinstance(current, ast.NamedExpr):
                yield self.bind(current.target.id, current, current.value,
                                _kind(current.value))
            stack.extend(ast.iter_child_nodes(current))

    def global_writes(self, func: ast.FunctionDef | ast.AsyncFunctionDef) -> Iterator[Binding]:
        """Names a function declares ``global`` and assigns: module-scope, computed."""
        declared: set[str] = set()
        for node in _own_scope(func):
            if isinstance(node, ast.Global):
                declared.update(node.names)
        if not declared:
            return
        for node in _own_scope(func):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and \
                    node.id in declared:
                yield self.bind(node.id, node, None, COMPUTED)

    @staticmethod
    def bind(name: str, node: ast.AST, value: ast.AST | None, kind: str,
             site: Site | None = None, header: bool = False) -> Binding:
        line = getattr(node, "lineno", 1)
        end = line if header else getattr(node, "end_lineno", None) or line
        literal = ast.literal_eval(value) if kind == LITERAL and value is not None else None
        return Binding(name, kind, line, end, site, literal)


def _kind(value: ast.AST | None) -> str:
    """STATIC for a literal that is not a top-level param assignment, else COMPUTED."""
    if value is not None and is_literal(value):
        return STATIC
    return COMPUTED


def _site(value: ast.expr, stmt: ast.stmt, chained: bool = False) -> Site:
    return Site(start=(value.lineno, value.col_offset),
                end=(value.end_lineno or value.lineno, value.end_col_offset or 0),
                statement_end=(stmt.end_lineno or stmt.lineno, stmt.end_col_offset or 0),
                chained=chained)


def _pair(target: ast.expr, value: ast.expr | None) -> Iterator[tuple[str, ast.expr | None]]:
    """Names bound by ``target = value``, each with the part of ``value`` it receives.

    ``a, (b, c) = 1, (2, 3)`` pairs element by element; where the shapes cannot be
    matched statically (``a, b = f()``, starred targets) the part is None.
    """
    if isinstance(target, ast.Name):
        yield target.id, value
    elif isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List)) \
            and len(value.elts) == len(target.elts) and \
            not any(isinstance(e, ast.Starred) for e in (*target.elts, *value.elts)):
        for elt, part in zip(target.elts, value.elts, strict=True):
            yield from _pair(elt, part)
    else:
        for name in _names(target):
            yield name, None


def _names(target: ast.AST) -> Iterator[str]:
    """Names bound by an assignment target (attributes and subscripts bind none)."""
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, (ast.Tuple, ast.List)):
        for elt in target.elts:
            yield from _names(elt)
    elif isinstance(target, ast.Starred):
        yield from _names(target.value)


def _own_scope(func: ast.AST) -> Iterator[ast.AST]:
    """Nodes of a function body, not descending into nested functions or classes."""
    stack = list(ast.iter_child_nodes(func))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                                 ast.Lambda)):
            stack.extend(ast.iter_child_nodes(node))


# -- overrides ----------------------------------------------------------------------------


def literal_text(text: str) -> str:
    """The Python source of a ``--param`` value: a literal as written, else a string."""
    stripped = text.strip()
    try:
        node = ast.parse(stripped, mode="eval").body
    except SyntaxError:
        return repr(text)
    return stripped if is_literal(node) else repr(text)


def check_override_names(capture: CellCapture, names: Iterable[str], option: str) -> None:
    """Refuse an override of a name the cell neither assigns nor reads: it would leave
    the cell unchanged and record a param that played no part (a typo, usually)."""
    for name in names:
        if name in capture.bound or name in capture.read:
            continue
        params = list(capture.params)
        close = difflib.get_close_matches(name, params, n=1)
        assigns = f"the cell assigns {', '.join(params)}" if params else \
            "the cell assigns no literal params"
        hint = f"; did you mean {close[0]}?" if close else \
            f"; assign {name} = ... in the cell, or drop {option} {name}."
        raise InvalidParameter(
            f"{option} {name}=...: the cell neither assigns nor uses {name}, so the run "
            f"would record a param that changed nothing. {assigns.capitalize()}{hint}"
        )


def apply_overrides(source: str, capture: CellCapture, overrides: dict[str, str]
                    ) -> tuple[str, dict[str, str]]:
    """Rewrite the literal assignments of overridden params so the cell runs with them.

    ``overrides`` maps names to Python literal source. Returns the new source and the
    overrides the cell does not assign, which the caller sets before the cell runs.
    Raises InvalidParameter for a name the cell computes (an override would be lost).
    """
    edits: list[tuple[int, int, bytes]] = []
    inject: dict[str, str] = {}
    lines = source.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line.encode("utf-8")))

    def offset(pos: tuple[int, int]) -> int:
        return starts[pos[0] - 1] + pos[1]

    for name, text in overrides.items():
        if not name.isidentifier():
            raise InvalidParameter(
                f"--param {name}=...: a param set in a cell is a Python variable name; "
                "use letters, digits and underscores."
            )
        if name in capture.ignored:
            raise InvalidParameter(
                f"--param {name}: the cell marks its assignment '# mltrack: ignore'; remove "
                "the marker or the --param option."
            )
        if name in capture.params:
            for site in capture.sites[name]:
                if site.chained:
                    at = offset(site.statement_end)
                    edits.append((at, at, f"; {name} = {text}".encode()))
                else:
                    edits.append((offset(site.start), offset(site.end), text.encode()))
        elif name in capture.bound:
            where = next(b.line for b in capture.bindings
                         if b.name == name and b.kind != LITERAL)
            raise InvalidParameter(
                f"--param {name}: the cell computes {name} (line {where}), so the override "
                f"would be overwritten. Assign it a literal at the top level "
                f"(e.g. {name} = ...) or drop --param {name}."
            )
        else:
            inject[name] = text
    data = source.encode("utf-8")
    for start, end, text_bytes in sorted(edits, reverse=True):
        data = data[:start] + text_bytes + data[end:]
    return data.decode("utf-8"), inject


# -- metric values ------------------------------------------------------------------------


def metric_number(value: Any) -> float | None:
    """The float of a numeric scalar (int, float, numpy scalar, 0-d array), else None.

    Booleans, enums, complex numbers, and ints too large for a float are not metrics.
    """
    if isinstance(value, (bool, enum.Enum)):
        return None
    if isinstance(value, (int, float)):
        try:
            return float(value)
        except OverflowError:
            return None
    module = type(value).__module__
    if module == "numpy" or module.startswith("numpy."):
        kind = getattr(getattr(value, "dtype", None), "kind", None)
        if getattr(value, "ndim", None) == 0 and kind in ("i", "u", "f"):
            try:
                return float(value)
            except (OverflowError, TypeError, ValueError):
                return None
    return None
