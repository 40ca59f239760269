"""The search-filter grammar: text -> syntax tree, with positions for error messages.

The grammar is MLflow's, plus ``OR``, parentheses and ``NOT``::

    filter     := or_expr
    or_expr    := and_expr ("OR" and_expr)*
    and_expr   := not_expr ("AND" not_expr)*
    not_expr   := "NOT" not_expr | atom
    atom       := "(" or_expr ")" | comparison
    comparison := field op value
                | field ["NOT"] "IN" "(" value ("," value)* ")"
                | field "IS" ["NOT"] "NULL"
    field      := [prefix "."] key        key: a word, `back ticked`, or "quoted"
                                          prefix: a word or `back ticked`
    op         := = | != | <> | < | <= | > | >= | [NOT] LIKE | [NOT] ILIKE
    value      := number | 'string' | "string"

This module only parses; ``store/sql_search.py`` turns the tree into SQL with
bound parameters, so no text of the filter ever reaches SQL as code.

Parsing is linear in the length of the filter: no token pattern backtracks over more
than the token it tries, and the length is checked before anything else looks at it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Union

from ..errors import InvalidFilter

MAX_FILTER_LENGTH = 20_000
# Deeper nesting or more conditions would overflow the parser's recursion or the
# database's expression depth (SQLite: 1000) instead of giving a clear error.
MAX_NESTING = 100
MAX_CONDITIONS = 500
# Each metric, param or tag key of an order_by is an outer join and two to four ORDER BY
# terms. SQLite allows 64 tables in a join, and SQLite 3.40 crashes the process on 64
# ORDER BY terms over outer joins (31 metric keys); ten keys stay far below both.
MAX_ORDER_BY = 10
MAX_ORDER_BY_LENGTH = 1_000

PREFIXES = {
    "metric": "metric",
    "metrics": "metric",
    "param": "param",
    "params": "param",
    "parameter": "param",
    "parameters": "param",
    "tag": "tag",
    "tags": "tag",
    "attribute": "attribute",
    "attributes": "attribute",
    "attr": "attribute",
    "run": "attribute",
    "dataset": "dataset",
    "datasets": "dataset",
}

COMPARISONS = ("=", "!=", "<", "<=", ">", ">=", "LIKE", "NOT LIKE", "ILIKE", "NOT ILIKE")


@dataclass(frozen=True, slots=True)
class Field:
    kind: str | None  # "metric", "param", "tag", "attribute" or None when unprefixed
    key: str
    position: int


@dataclass(frozen=True, slots=True)
class Compare:
    field: Field
    op: str  # one of COMPARISONS, "IN", "NOT IN", "IS NULL", "IS NOT NULL"
    value: object  # float | int | str | tuple of those | None
    quoted: bool  # the value was written as a string literal
    position: int


@dataclass(frozen=True, slots=True)
class And:
    parts: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    parts: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    part: Node


Node = Union[Compare, And, Or, Not]


@dataclass(frozen=True, slots=True)
class OrderBy:
    field: Field
    ascending: bool


# Every alternative is unambiguous: a digit belongs to exactly one repetition, so a
# failed match backtracks once over what it tried (``\d+\.?\d*`` tried every split of
# a digit run, quadratic in its length).
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>[-+]?(?:\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|inf|Infinity)
               (?![\w.]))
  | (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*")
  | (?P<bprefix>`[A-Za-z]+`\.)
  | (?P<backtick>`[^`]*`)
  | (?P<op><=|>=|!=|<>|==|=|<|>)
  | (?P<punct>[(),])
  | (?P<word>[A-Za-z_][\w\-/:]*(?:\.[\w\-/:]+)*\.?)
    """,
    re.VERBOSE,
)

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_NUMBERISH = re.compile(r"[-+]?\.?\d")
_NUMBER_RUN = re.compile(r"[\w.+-]{1,40}")
_INTEGER = re.compile(r"[-+]?\d{1,18}")  # fits in 64 bits; longer ones become floats

_KEYWORDS = {"AND", "OR", "NOT", "IN", "LIKE", "ILIKE", "IS", "NULL", "ASC", "DESC"}


@dataclass(slots=True)
class _Token:
    kind: str
    text: str
    pos: int


def _check_length(text: str, limit: int, what: str) -> None:
    if len(text) > limit:
        raise InvalidFilter(
            f"{what} is {len(text):,} characters long; the limit is {limit:,}. Shorten it, "
            "e.g. with IN (...) lists, or split the search."
        )


def _tokenize(text: str) -> list[_Token]:
    _check_length(text, MAX_FILTER_LENGTH, "The filter")
    bad = _UNSTORABLE.search(text)
    if bad is not None:  # no database takes NUL, and lone surrogates are not UTF-8
        raise InvalidFilter(
            f"Unexpected character {bad.group()!r}; a filter cannot hold NUL characters or "
            "lone surrogates", text, bad.start(),
        )
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            ch = text[pos]
            hint = ""
            if ch in "'\"`":
                hint = "; a quote is not closed"
            elif _NUMBERISH.match(text, pos):
                shown = _NUMBER_RUN.match(text, pos)
                word = shown.group() if shown else ch
                raise InvalidFilter(
                    f"Malformed number {word!r}{'...' if len(word) == 40 else ''}; write "
                    "numbers like 3, -0.5, 1e-4 or inf", text, pos)
            raise InvalidFilter(f"Unexpected character {ch!r}{hint}", text, pos)
        kind = m.lastgroup or ""
        if kind != "ws":
            word = m.group()
            if kind == "word" and word.upper() in _KEYWORDS:
                kind = "kw"
                word = word.upper()
            tokens.append(_Token(kind, word, pos))
        pos = m.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _unquote(token: _Token) -> str:
    body = token.text[1:-1]
    q = token.text[0]
    if q == "`":
        return body
    body = body.replace(q + q, q)
    return re.sub(r"\\(.)", r"\1", body)


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
        self.depth = 0
        self.conditions = 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def error(self, message: str, token: _Token | None = None) -> InvalidFilter:
        token = token or self.tok
        return InvalidFilter(message, self.text, token.pos)

    def take(self) -> _Token:
        token = self.tok
        self.i += 1
        return token

    def accept_kw(self, *words: str) -> bool:
        if self.tok.kind == "kw" and self.tok.text in words:
            self.i += 1
            return True
        return False

    def expect_punct(self, ch: str) -> None:
        if self.tok.kind != "punct" or self.tok.text != ch:
            found = self.tok.text or "the end of the filter"
            raise self.error(f"Expected {ch!r} but found {found!r}")
        self.i += 1

    # filter := or_expr END
    def parse_filter(self) -> Node | None:
        if self.tok.kind == "end":
            return None
        node = self.or_expr()
        if self.tok.kind != "end":
            raise self.error(
                f"Unexpected {self.tok.text!r}; join conditions with AND or OR"
            )
        return node

    def or_expr(self) -> Node:
        parts = [self.and_expr()]
        while self.accept_kw("OR"):
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def and_expr(self) -> Node:
        parts = [self.not_expr()]
        while self.accept_kw("AND"):
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.error(f"The filter is nested more than {MAX_NESTING} levels deep "
                             "(NOT and parentheses); simplify it")

    def not_expr(self) -> Node:
        if self.accept_kw("NOT"):
            self.nest()
            node: Node = Not(self.not_expr())
            self.depth -= 1
            return node
        return self.atom()

    def atom(self) -> Node:
        if self.tok.kind == "punct" and self.tok.text == "(":
            self.nest()
            self.take()
            node = self.or_expr()
            self.expect_punct(")")
            self.depth -= 1
            return node
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise self.error(f"The filter has more than {MAX_CONDITIONS} conditions; "
                             "use IN (...) lists or split the search")
        return self.comparison()

    def field(self) -> Field:
        token = self.tok
        if token.kind == "bprefix":  # `metrics`.acc, as MLflow writes it
            self.take()
            head = token.text[1:-2]
            if head.lower() not in PREFIXES:
                raise self.error(f"Unknown prefix {head!r}; use metrics., params., tags., "
                                 "attributes. or datasets.", token)
            key = self.tok
            if key.kind in ("backtick", "string"):
                self.take()
                return Field(PREFIXES[head.lower()], _unquote(key), token.pos)
            if key.kind in ("word", "kw") and key.pos == token.pos + len(token.text):
                self.take()
                return Field(PREFIXES[head.lower()], key.text if key.kind == "word" else
                             self.text[key.pos:key.pos + len(key.text)], token.pos)
            raise self.error(f"Expected a key right after {token.text!r}", key)
        if token.kind in ("backtick", "string"):
            self.take()
            return Field(None, _unquote(token), token.pos)
        if token.kind != "word":
            found = token.text or "the end of the filter"
            raise self.error(
                f"Expected a field such as metrics.acc, params.lr, tags.team or "
                f"attributes.status, but found {found!r}"
            )
        self.take()
        word = token.text
        head, dot, rest = word.partition(".")
        if dot and head.lower() in PREFIXES:
            kind = PREFIXES[head.lower()]
            if rest:
                return Field(kind, rest, token.pos)
            quoted = self.tok
            if quoted.kind not in ("backtick", "string"):
                raise self.error(
                    f"Expected a key after {word!r}; write {word}`my key` for keys with "
                    "spaces or symbols",
                    quoted,
                )
            self.take()
            return Field(kind, _unquote(quoted), token.pos)
        if word.endswith("."):
            raise self.error(f"Unknown prefix {head!r}; use metrics., params., tags., "
                             "attributes. or datasets.", token)
        if dot:
            raise self.error(
                f"Unknown prefix {head!r} in {word!r}; use metrics., params., tags., "
                "attributes. or datasets.",
                token,
            )
        return Field(None, word, token.pos)

    def value(self) -> tuple[object, bool]:
        token = self.tok
        if token.kind == "number":
            self.take()
            text = token.text
            if text.lstrip("+-") in ("inf", "Infinity"):
                return float(text.replace("Infinity", "inf")), False
            if _INTEGER.fullmatch(text):
                return int(text), False
            return float(text), False
        if token.kind == "string":
            self.take()
            return _unquote(token), True
        found = token.text or "the end of the filter"
        raise self.error(f"Expected a number or a quoted string, but found {found!r}")

    def comparison(self) -> Node:
        field = self.field()
        token = self.tok
        if token.kind == "op":
            self.take()
            op = {"<>": "!=", "==": "="}.get(token.text, token.text)
            value, quoted = self.value()
            return Compare(field, op, value, quoted, token.pos)
        if token.kind == "kw":
            negate = self.accept_kw("NOT")
            word = self.tok
            if self.accept_kw("LIKE", "ILIKE"):
                value, quoted = self.value()
                if not quoted:
                    raise self.error(f"{word.text} needs a quoted pattern such as 'vis%'", word)
                op = ("NOT " if negate else "") + word.text
                return Compare(field, op, value, True, token.pos)
            if self.accept_kw("IN"):
                self.expect_punct("(")
                values = []
                kinds = set()
                while True:
                    value, quoted = self.value()
                    values.append(value)
                    kinds.add(quoted)
                    if self.tok.kind == "punct" and self.tok.text == ",":
                        self.take()
                        continue
                    break
                self.expect_punct(")")
                if len(kinds) > 1:
                    raise self.error("IN lists must be all strings or all numbers", token)
                op = "NOT IN" if negate else "IN"
                return Compare(field, op, tuple(values), kinds.pop(), token.pos)
            if not negate and self.accept_kw("IS"):
                is_not = self.accept_kw("NOT")
                if not self.accept_kw("NULL"):
                    raise self.error("Expected NULL after IS")
                return Compare(field, "IS NOT NULL" if is_not else "IS NULL", None, False,
                               token.pos)
        found = token.text or "the end of the filter"
        raise self.error(
            f"Expected a comparison (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, IS NULL) after "
            f"{field.key!r}, but found {found!r}",
            token,
        )

    def parse_order_by(self) -> OrderBy:
        field = self.field()
        ascending = True
        if self.accept_kw("DESC"):
            ascending = False
        else:
            self.accept_kw("ASC")
        if self.tok.kind != "end":
            raise self.error(f"Unexpected {self.tok.text!r}; write e.g. 'metrics.acc DESC'")
        return OrderBy(field, ascending)


def quote_literal(text: str) -> str:
    """``text`` as a string literal of this grammar (quotes doubled), for building filters."""
    return "'" + text.replace("'", "''") + "'"


def parse_filter(text: str | None) -> Node | None:
    """Parse a filter string; ``None`` or blank means "everything"."""
    if text is None:
        return None
    if not isinstance(text, str):
        raise InvalidFilter(f"A filter must be a string, not {type(text).__name__}.")
    _check_length(text, MAX_FILTER_LENGTH, "The filter")
    if not text.strip():
        return None
    return _Parser(text).parse_filter()


def parse_order_by(clause: str) -> OrderBy:
    """Parse one ``order_by`` clause such as ``'metrics.acc DESC'``."""
    if not isinstance(clause, str) or not clause.strip():
        raise InvalidFilter("An order_by clause must be a non-empty string such as "
                            "'metrics.acc DESC'.")
    _check_length(clause, MAX_ORDER_BY_LENGTH, "An order_by clause")
    return _Parser(clause).parse_order_by()


def parse_order_by_list(order_by: Sequence[str] | str | None) -> list[tuple[str, OrderBy]]:
    """Parse every clause of ``order_by`` (one string counts as one clause), each with
    its text; at most :data:`MAX_ORDER_BY` clauses."""
    if order_by is None:
        return []
    clauses = [order_by] if isinstance(order_by, str) else order_by
    if not isinstance(clauses, Sequence):
        raise InvalidFilter(f"order_by must be a list of clauses such as ['metrics.acc DESC'], "
                            f"not {type(order_by).__name__}.")
    if len(clauses) > MAX_ORDER_BY:
        raise InvalidFilter(
            f"order_by has {len(clauses)} clauses; at most {MAX_ORDER_BY} are allowed. Sort "
            "by the few keys that matter, then sort the DataFrame further with pandas."
        )
    return [(text, parse_order_by(text)) for text in clauses]


def referenced_keys(node: Node | None) -> dict[str, set[str]]:
    """The metric, param and tag keys a filter names, by kind ("metric", "param", "tag")."""
    found: dict[str, set[str]] = {}
    stack = [node] if node is not None else []
    while stack:
        item = stack.pop()
        if isinstance(item, (And, Or)):
            stack.extend(item.parts)
        elif isinstance(item, Not):
            stack.append(item.part)
        elif isinstance(item, Compare) and item.field.kind in ("metric", "param", "tag"):
            found.setdefault(item.field.kind, set()).add(item.field.key)
    return found


def closest_keys(key: str, known: Iterable[str], n: int = 3) -> list[str]:
    """Up to ``n`` names of ``known`` that look most like ``key`` (for "did you mean"):
    a different case first, then the closest spellings."""
    names = sorted(set(known) - {key})
    folded = [name for name in names if name.lower() == key.lower()]
    close = difflib.get_close_matches(key, names, n=n, cutoff=0.6)
    return list(dict.fromkeys(folded + close))[:n]


_PLURAL = {"metric": "metrics", "param": "params", "tag": "tags"}


def unknown_key_message(kind: str, key: str, known: Iterable[str]) -> str:
    """The warning for a filter key no searched run has: what, and the closest keys.

    ``kind`` is "metric", "param" or "tag".
    """
    prefix = _PLURAL.get(kind, kind)
    names = sorted(set(known))
    text = f"No run searched has a {kind} {key!r}, so {prefix}.{key} matched nothing"
    close = closest_keys(key, names)
    if close:
        return text + "; did you mean " + " or ".join(f"{prefix}.{c}" for c in close) + "?"
    if names:
        more = ", ..." if len(names) > 8 else ""
        return text + f"; the {prefix} of these runs are " + ", ".join(names[:8]) + more
    return text + f"; these runs have no {prefix} at all"
