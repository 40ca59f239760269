"""The search-filter grammar (store/search.py) and its compilation to SQL (store/sql_search.py).

Parser tests look at the syntax tree; semantic tests run filters against a populated
store on SQLite and on PostgreSQL; hostile filters must be refused or matched as plain
values, never executed, and hypothesis fuzzes the parser and compiler.
"""

from __future__ import annotations

import string
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyter_mltrack.entities import Metric
from jupyter_mltrack.errors import InvalidFilter, UnknownKeyWarning
from jupyter_mltrack.store import schema
from jupyter_mltrack.store.search import (
    MAX_FILTER_LENGTH,
    And,
    Compare,
    Not,
    Or,
    closest_keys,
    parse_filter,
    parse_order_by,
    unknown_key_message,
)
from jupyter_mltrack.store.sql import SqlStore
from jupyter_mltrack.store.sql_search import compile_filter

# -- the parser ------------------------------------------------------------------------


def _cmp(node: object) -> tuple[str | None, str, str, object]:
    assert isinstance(node, Compare)
    return (node.field.kind, node.field.key, node.op, node.value)


def test_blank_filters_mean_everything() -> None:
    assert parse_filter(None) is None
    assert parse_filter("") is None
    assert parse_filter("   \n\t") is None


def test_and_binds_tighter_than_or() -> None:
    node = parse_filter("metrics.a > 1 OR metrics.b > 2 AND metrics.c > 3")
    assert isinstance(node, Or)
    assert _cmp(node.parts[0]) == ("metric", "a", ">", 1)
    assert isinstance(node.parts[1], And)
    assert [_cmp(p)[1] for p in node.parts[1].parts] == ["b", "c"]


def test_parentheses_override_precedence() -> None:
    node = parse_filter("(metrics.a > 1 OR metrics.b > 2) AND metrics.c > 3")
    assert isinstance(node, And)
    assert isinstance(node.parts[0], Or)
    assert _cmp(node.parts[1])[1] == "c"


def test_not_binds_tighter_than_and() -> None:
    node = parse_filter("NOT metrics.a > 1 AND metrics.b > 2")
    assert isinstance(node, And)
    assert isinstance(node.parts[0], Not)
    assert _cmp(node.parts[0].part)[1] == "a"
    node = parse_filter("NOT (metrics.a > 1 AND metrics.b > 2)")
    assert isinstance(node, Not)
    assert isinstance(node.part, And)


def test_keywords_are_case_insensitive() -> None:
    node = parse_filter("params.a = '1' and not params.b = '2' or params.c in ('3')")
    assert isinstance(node, Or)
    assert isinstance(node.parts[0], And)
    assert isinstance(node.parts[0].parts[1], Not)
    assert _cmp(node.parts[1]) == ("param", "c", "IN", ("3",))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.acc >= 0.5", ("metric", "acc", ">=", 0.5)),
        ("metric.acc <> 1", ("metric", "acc", "!=", 1)),
        ("metrics.acc == 1", ("metric", "acc", "=", 1)),
        ("params.lr < 1e-3", ("param", "lr", "<", 0.001)),
        ("param.lr = -2", ("param", "lr", "=", -2)),
        ("parameters.lr = .5", ("param", "lr", "=", 0.5)),
        ("tags.team = 'vision'", ("tag", "team", "=", "vision")),
        ('tag.team = "vision"', ("tag", "team", "=", "vision")),
        ("attributes.status = 'FINISHED'", ("attribute", "status", "=", "FINISHED")),
        ("attr.run_name != 'x'", ("attribute", "run_name", "!=", "x")),
        ("run.start_time > 5", ("attribute", "start_time", ">", 5)),
        ("status = 'RUNNING'", (None, "status", "=", "RUNNING")),
        ("metrics.acc = inf", ("metric", "acc", "=", float("inf"))),
        ("metrics.acc = -inf", ("metric", "acc", "=", float("-inf"))),
        ("metrics.acc < Infinity", ("metric", "acc", "<", float("inf"))),
        ("metrics.`my key` > 1", ("metric", "my key", ">", 1)),
        ('metrics."my key" > 1', ("metric", "my key", ">", 1)),
        ("`params.lr` = '1'", (None, "params.lr", "=", "1")),
        ("metrics.val.acc > 1", ("metric", "val.acc", ">", 1)),
        ("metrics.a/b:c-d > 1", ("metric", "a/b:c-d", ">", 1)),
        ("tags.Ünïcode = 'Grüße'", ("tag", "Ünïcode", "=", "Grüße")),
        ("params.model LIKE 'cnn%'", ("param", "model", "LIKE", "cnn%")),
        ("params.model NOT ILIKE 'cnn%'", ("param", "model", "NOT ILIKE", "cnn%")),
        ("params.model IN ('a', 'b')", ("param", "model", "IN", ("a", "b"))),
        ("params.lr NOT IN (1, 2.5)", ("param", "lr", "NOT IN", (1, 2.5))),
        ("tags.x IS NULL", ("tag", "x", "IS NULL", None)),
        ("tags.x is not null", ("tag", "x", "IS NOT NULL", None)),
    ],
)
def test_comparisons(text: str, expected: tuple[object, ...]) -> None:
    assert _cmp(parse_filter(text)) == expected


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("'it''s'", "it's"),
        ("'it\\'s'", "it's"),
        ('"it\'s"', "it's"),
        ('"say ""hi"""', 'say "hi"'),
        ("'back\\\\slash'", "back\\slash"),
        ("''", ""),
        ("'a AND b OR c'", "a AND b OR c"),
    ],
)
def test_string_literals_unquote(literal: str, value: str) -> None:
    assert _cmp(parse_filter(f"tags.t = {literal}"))[3] == value


def test_quoted_values_are_marked_quoted() -> None:
    quoted = parse_filter("params.lr = '0.1'")
    bare = parse_filter("params.lr = 0.1")
    assert isinstance(quoted, Compare) and quoted.quoted
    assert isinstance(bare, Compare) and not bare.quoted


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        ("metrics.acc >", 13, "Expected a number or a quoted string"),
        ("metrics.acc >> 1", 13, "Expected a number or a quoted string"),
        ("params.lr = 'abc", 12, "a quote is not closed"),
        ("foo.bar = 1", 0, "Unknown prefix 'foo'"),
        ("foo. = 1", 0, "Unknown prefix 'foo'"),
        ("metrics. > 1", 9, "Expected a key after 'metrics.'"),
        ("metrics.acc > 1 metrics.loss < 2", 16, "join conditions with AND or OR"),
        ("(metrics.acc > 1", 16, "Expected ')'"),
        ("metrics.acc > 1)", 15, "Unexpected ')'"),
        ("metrics.acc IN (1, 'a')", 12, "all strings or all numbers"),
        ("metrics.acc IN ()", 16, "Expected a number or a quoted string"),
        ("params.lr LIKE 5", 10, "LIKE needs a quoted pattern"),
        ("tags.x IS 5", 10, "Expected NULL after IS"),
        ("tags.x NOT IS NULL", 7, "Expected a comparison"),
        ("metrics.acc # 1", 12, "Unexpected character '#'"),
        ("= 1", 0, "Expected a field"),
        ("metrics.acc > 1 AND", 19, "Expected a field"),
        ("metrics.acc > 1 AND OR metrics.b < 1", 20, "Expected a field"),
        ("tags.t = `x`", 9, "Expected a number or a quoted string"),
    ],
)
def test_parse_errors_point_at_the_problem(text: str, position: int, message: str) -> None:
    with pytest.raises(InvalidFilter) as info:
        parse_filter(text)
    err = info.value
    assert err.position == position
    assert err.text == text
    assert message in str(err)
    # The message ends with the filter and a caret under the offending character.
    lines = str(err).splitlines()
    assert lines[-2] == "  " + text
    assert lines[-1] == "  " + " " * position + "^"


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        ("acc > 1", 0, "needs a prefix: metrics.acc"),
        ("metrics.acc = 'x'", 12, "is a number"),
        ("metrics.acc LIKE 'x%'", 12, "is a number"),
        ("tags.team = 1", 10, "quote the value"),
        ("tags.team < 'b'", 10, "tags are text"),
        ("params.model < 'abc'", 13, "not a number"),
        ("attributes.nope = 'x'", 0, "Unknown attribute 'nope'"),
        ("attributes.status = 'DONE'", 18, "Unknown run status 'DONE'"),
        ("attributes.status IN ('RUNNING', 'NOPE')", 18, "Unknown run status 'NOPE'"),
        ("attributes.run_name = 5", 20, "is text; quote the value"),
        ("attributes.run_name < 'b'", 20, "supports =, !=, LIKE"),
        ("attributes.start_time LIKE '1%'", 22, "is a number"),
        ("attributes.start_time > 'yesterday'", 22, "not a number"),
    ],
)
def test_compile_errors_point_at_the_problem(text: str, position: int, message: str) -> None:
    with pytest.raises(InvalidFilter) as info:
        compile_filter(text)
    assert info.value.position == position, str(info.value)
    assert message in str(info.value)
    assert str(info.value).splitlines()[-1] == "  " + " " * position + "^"


def test_the_caret_stands_under_the_problem_in_multi_line_filters() -> None:
    text = "\n    metrics.acc > 0.9\n    AND foo > 2\n"
    with pytest.raises(InvalidFilter) as info:
        compile_filter(text)
    assert info.value.position == text.index("foo")
    lines = str(info.value).splitlines()
    assert lines[-2] == "      AND foo > 2"
    assert lines[-1] == "  " + " " * 8 + "^"
    with pytest.raises(InvalidFilter) as info:
        parse_filter("metrics.acc > 1\n")  # fine: trailing newline
        parse_filter("metrics.acc >\n")
    assert str(info.value).splitlines()[-2:] == ["  metrics.acc >", "               ^"]


def test_filter_too_long_is_refused() -> None:
    text = "tags.t = '" + "x" * MAX_FILTER_LENGTH + "'"
    with pytest.raises(InvalidFilter, match="limit is"):
        parse_filter(text)


@pytest.mark.parametrize(
    "text",
    [
        "(" * 2000 + "tags.a = 'b'" + ")" * 2000,
        "NOT " * 4000 + "tags.a = 'b'",
        "(NOT " * 1500 + "tags.a = 'b'" + ")" * 1500,
    ],
)
def test_deep_nesting_is_refused_not_a_crash(text: str) -> None:
    with pytest.raises(InvalidFilter, match="nested"):
        parse_filter(text)


def test_too_many_conditions_are_refused() -> None:
    text = " OR ".join(["id = '1'"] * 1500)
    assert len(text) < MAX_FILTER_LENGTH
    with pytest.raises(InvalidFilter, match="conditions"):
        parse_filter(text)


@pytest.mark.parametrize("bad", ["\x00", "\ud800", "\udfff"])
def test_nul_and_lone_surrogates_are_refused(bad: str) -> None:
    text = f"tags.t = 'a{bad}b'"
    with pytest.raises(InvalidFilter) as info:
        parse_filter(text)
    assert info.value.position == 11


def test_non_string_filter_is_refused() -> None:
    with pytest.raises(InvalidFilter, match="must be a string"):
        parse_filter(5)  # type: ignore[arg-type]


def test_order_by_clauses() -> None:
    ob = parse_order_by("metrics.acc DESC")
    assert (ob.field.kind, ob.field.key, ob.ascending) == ("metric", "acc", False)
    ob = parse_order_by("params.`learning rate` asc")
    assert (ob.field.kind, ob.field.key, ob.ascending) == ("param", "learning rate", True)
    ob = parse_order_by("start_time")
    assert (ob.field.kind, ob.field.key, ob.ascending) == (None, "start_time", True)
    for bad in ("", "   ", "metrics.acc DESC extra", "metrics.acc >", "DESC"):
        with pytest.raises(InvalidFilter):
            parse_order_by(bad)


# -- hypothesis: the parser and compiler only ever succeed or raise InvalidFilter --------

_VOCAB = [
    "metrics.acc", "params.lr", "tags.team", "attributes.status", "status", "run_name",
    "metrics.`my key`", 'params."a b"', "params.", "foo.bar", "acc", "attributes.start_time",
    "=", "!=", "<>", "==", "<", "<=", ">", ">=", "AND", "OR", "NOT", "IN", "LIKE", "ILIKE",
    "IS", "NULL", "NOT IN", "IS NOT NULL", "(", ")", ",", "'x'", "'RUNNING'", '"y"', "'",
    '"', "`", "0.5", "-1", "1e309", "inf", "-inf", "Infinity", "NaN", "1.2.3", ";",
    "--", "/*", "*/", "DROP TABLE runs", "1=1", "\x00", "\ud800", "é", "\\", "%", "_",
    "'it''s'", "'a\\'b'", "\n", "ASC", "DESC",
]

_filters = st.one_of(
    st.text(max_size=200),
    st.text(alphabet=string.printable, max_size=200),
    st.lists(st.sampled_from(_VOCAB), max_size=25).map(" ".join),
    st.lists(st.sampled_from(_VOCAB), max_size=25).map("".join),
)


@settings(max_examples=400, deadline=None)
@given(_filters)
def test_fuzz_parse_and_compile_raise_only_invalid_filter(text: str) -> None:
    try:
        compile_filter(text)
    except InvalidFilter as exc:
        assert str(exc)
        if exc.position is not None:
            assert 0 <= exc.position <= len(text)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(_VOCAB), max_size=6).map(" ".join))
def test_fuzz_order_by_raises_only_invalid_filter(text: str) -> None:
    try:
        parse_order_by(text)
    except InvalidFilter:
        pass


# -- semantics on a real database (SQLite and PostgreSQL) --------------------------------

INJECTION = "cnn' OR 1=1; DROP TABLE runs; --"


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql",
                                                                marks=pytest.mark.postgres)])
def populated(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[tuple[SqlStore, str, dict[str, str]]]:
    """Runs alpha..zeta in experiment 'search', one run 'other' elsewhere."""
    folder: Path = tmp_path_factory.mktemp("search")
    if request.param == "sqlite":
        uri = f"sqlite:///{folder / 'mltrack.db'}"
    else:
        uri = request.getfixturevalue("postgres_server").new_database()
    store = SqlStore(uri, str(folder / "artifacts"))
    exp = store.create_experiment("search")
    other_exp = store.create_experiment("elsewhere")
    ids: dict[str, str] = {}

    def run(name: str, start: int, status: str, params: dict[str, str],
            tags: dict[str, str], metrics: dict[str, float], experiment: str = exp) -> None:
        info = store.create_run(experiment, name, start, "tester")
        ids[name] = info.run_id
        store.log_batch(info.run_id, [Metric(k, v, start, 0) for k, v in metrics.items()],
                        params, tags)
        if status != "RUNNING":
            store.update_run(info.run_id, status=status, end_time=start + 500)

    nan, inf = float("nan"), float("inf")
    run("alpha", 1000, "FINISHED", {"lr": "0.01", "model": "cnn", "q": "it's"},
        {"team": "Vision", "path": "C:\\dir"}, {"acc": 0.9, "loss": 0.3})
    run("beta", 2000, "FAILED", {"lr": "0.1", "model": "rnn", "note": INJECTION},
        {"team": "vision"}, {"acc": 0.5, "loss": nan})
    run("gamma", 3000, "RUNNING", {"lr": "1e-3", "model": "CNN-large"},
        {"team": "nlp"}, {"acc": inf})
    run("delta", 4000, "KILLED", {"lr": "auto"}, {"my key": "spaced"}, {"acc": -inf})
    run("épsilon", 5000, "RUNNING", {}, {"Ünïcode": "Grüße"}, {"val.acc": 1.0})
    run("zeta", 6000, "FINISHED", {"lr": "100"}, {"team": "100%_sure"}, {"acc": 0.0})
    run("other", 7000, "FINISHED", {"lr": "0.01"}, {"team": "Vision"}, {"acc": 0.9},
        experiment=other_exp)
    yield store, exp, ids
    store.close()


def _names(populated: tuple[SqlStore, str, dict[str, str]], text: str) -> set[str]:
    store, exp, ids = populated
    by_id = {v: k for k, v in ids.items()}
    return {by_id[r.info.run_id] for r in store.search_runs([exp], text)}


ALL = {"alpha", "beta", "gamma", "delta", "épsilon", "zeta"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, ALL),
        ("metrics.acc > 0.6", {"alpha", "gamma"}),
        ("metrics.acc < 0", {"delta"}),
        ("metrics.acc = inf", {"gamma"}),
        ("metrics.acc = -inf", {"delta"}),
        ("metrics.acc <= 0", {"delta", "zeta"}),
        ("metrics.acc IN (0.9, 0.5)", {"alpha", "beta"}),
        ("metrics.acc NOT IN (0.9, 0.5)", {"gamma", "delta", "zeta"}),
        # NaN is no number: it matches no comparison, but the metric exists.
        ("metrics.loss > -inf", {"alpha"}),
        ("metrics.loss IS NOT NULL", {"alpha", "beta"}),
        ("metrics.loss IS NULL", ALL - {"alpha", "beta"}),
        ("metrics.`val.acc` = 1", {"épsilon"}),
        ("metrics.val.acc = 1", {"épsilon"}),
        # params compare as numbers with a bare number or <, <=, >, >=
        ("params.lr < 0.05", {"alpha", "gamma"}),
        ("params.lr < '0.05'", {"alpha", "gamma"}),
        ("params.lr > 1", {"zeta"}),
        ("params.lr = 0.001", {"gamma"}),
        ("params.lr = '0.001'", set()),
        ("params.lr = '1e-3'", {"gamma"}),
        ("params.lr = 'auto'", {"delta"}),
        ("params.lr != 0.1", {"alpha", "gamma", "zeta"}),
        ("params.lr IN (0.01, 0.1)", {"alpha", "beta"}),
        ("params.lr IN ('0.01', 'auto')", {"alpha", "delta"}),
        ("params.lr NOT IN ('0.01', 'auto')", {"beta", "gamma", "zeta"}),
        ("params.lr IS NULL", {"épsilon"}),
        ("params.q = 'it''s'", {"alpha"}),
        ('params.q = "it\'s"', {"alpha"}),
        ("params.q = 'it\\'s'", {"alpha"}),
        # LIKE is case-sensitive everywhere, ILIKE is not
        ("params.model LIKE 'cnn%'", {"alpha"}),
        ("params.model LIKE 'CNN%'", {"gamma"}),
        ("params.model ILIKE 'cnn%'", {"alpha", "gamma"}),
        ("params.model NOT LIKE 'cnn%'", {"beta", "gamma"}),
        ("params.model NOT ILIKE 'cnn%'", {"beta"}),
        ("params.model LIKE '_nn'", {"alpha", "beta"}),
        ("tags.team = 'vision'", {"beta"}),
        ("tags.team ILIKE 'VISION'", {"alpha", "beta"}),
        ("tags.team != 'nlp'", {"alpha", "beta", "zeta"}),
        ("tags.team NOT IN ('nlp')", {"alpha", "beta", "zeta"}),
        ("NOT tags.team = 'nlp'", ALL - {"gamma"}),
        ("tags.team LIKE '100%'", {"zeta"}),
        ("tags.path = 'C:\\\\dir'", {"alpha"}),
        ("tags.`my key` = 'spaced'", {"delta"}),
        ('tags."my key" = \'spaced\'', {"delta"}),
        ("tags.Ünïcode = 'Grüße'", {"épsilon"}),
        ("attributes.run_name = 'épsilon'", {"épsilon"}),
        ("run_name LIKE '%a'", {"alpha", "beta", "gamma", "delta", "zeta"}),
        ("attributes.status = 'FINISHED'", {"alpha", "zeta"}),
        ("status = 'failed'", {"beta"}),
        ("attributes.status IN ('RUNNING', 'killed')", {"gamma", "delta", "épsilon"}),
        ("attributes.status != 'RUNNING'", {"alpha", "beta", "delta", "zeta"}),
        ("attributes.status LIKE 'F%'", {"alpha", "beta", "zeta"}),
        ("attributes.end_time IS NULL", {"gamma", "épsilon"}),
        ("attributes.start_time >= 3000 AND attributes.start_time < 5000", {"gamma", "delta"}),
        ("attributes.start_time > '4500'", {"épsilon", "zeta"}),
        ("attributes.user_id = 'tester'", ALL),
        # precedence and grouping, on data where it makes a difference
        ("tags.team = 'Vision' OR tags.team = 'vision' AND metrics.acc < 0.6",
         {"alpha", "beta"}),
        ("(tags.team = 'Vision' OR tags.team = 'vision') AND metrics.acc < 0.6", {"beta"}),
        ("NOT (metrics.acc > 0.6 OR metrics.acc < 0)", {"beta", "épsilon", "zeta"}),
        ("NOT NOT metrics.acc > 0.6", {"alpha", "gamma"}),
        ("metrics.acc > 0.6 and params.model = 'cnn' or attributes.run_name = 'zeta'",
         {"alpha", "zeta"}),
    ],
)
def test_filter_semantics(populated: tuple[SqlStore, str, dict[str, str]], text: str | None,
                          expected: set[str]) -> None:
    assert _names(populated, text) == expected


def test_search_across_experiments(populated: tuple[SqlStore, str, dict[str, str]]) -> None:
    store, exp, _ = populated
    found = {r.info.run_name for r in store.search_runs([], "metrics.acc = 0.9")}
    assert found == {"alpha", "other"}
    assert {r.info.run_name for r in store.search_runs([], "attributes.experiment_id = "
                                                       + exp + " AND metrics.acc = 0.9")} \
        == {"alpha"}


# -- ordering by the metric the filter compares ------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql",
                                                                marks=pytest.mark.postgres)])
def ordered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[SqlStore, str]]:
    """60 runs: acc cycles through numbers, NaN, infinities and no value; start times
    tie in threes (so the tie-breaks decide); every other run has model 'x'; one run is
    deleted and one lives in another experiment."""
    folder: Path = tmp_path_factory.mktemp("ordered")
    if request.param == "sqlite":
        uri = f"sqlite:///{folder / 'mltrack.db'}"
    else:
        uri = request.getfixturevalue("postgres_server").new_database()
    store = SqlStore(uri, str(folder / "artifacts"))
    exp = store.create_experiment("ordered")
    other = store.create_experiment("other")
    cycle = [0.5, 0.9, 0.1, float("nan"), float("inf"), float("-inf"), 0.7, 1.0, None, 0.5,
             0.3]
    for i in range(60):
        info = store.create_run(other if i == 7 else exp, f"r{i}", 1000 + i // 3, "tester")
        acc = cycle[i % len(cycle)]
        store.log_batch(info.run_id, [] if acc is None else [Metric("acc", acc, 1, 0)],
                        {"model": "x" if i % 2 else "y"}, {})
        if i == 12:
            store.set_run_lifecycle(info.run_id, deleted=True)
    yield store, exp
    store.close()


ORDERED_BY_ITS_FILTER = ["metrics.acc > 0.2", "metrics.acc >= 0.5", "metrics.acc < 0.7",
                         "metrics.acc <= 0.5", "metrics.acc = 0.5",
                         "metrics.acc IN (0.5, 0.9, 1)", "metrics.acc != 0.5",
                         "metrics.acc NOT IN (0.5, 0.9)", "metrics.acc > -inf"]


def _all_pages(store: SqlStore, exp: str, text: str, order_by: list[str]) -> list[str]:
    found: list[str] = []
    token = None
    while True:
        page = store.search_runs([exp], text, max_results=7, order_by=order_by,
                                 page_token=token)
        found += [r.info.run_id for r in page]
        token = page.next_page_token
        if not token:
            return found


@pytest.mark.parametrize("condition", ORDERED_BY_ITS_FILTER)
def test_ordering_by_the_filtered_metric_keeps_the_rows_and_their_order(
        ordered: tuple[SqlStore, str], condition: str) -> None:
    store, exp = ordered
    for direction in ("DESC", "ASC"):
        for rest in ("", " AND params.model = 'x'"):
            order = [f"metrics.acc {direction}", "params.model"]
            shared = _all_pages(store, exp, condition + rest, order)
            # NOT NOT hides the comparison from the shared join: the general path
            general = _all_pages(store, exp, f"NOT NOT {condition}{rest}", order)
            assert shared == general and shared, (condition, direction, rest)
            values = [store.get_run(r).data.metrics["acc"] for r in shared]
            numbers = [v for v in values if v == v]
            assert numbers == sorted(numbers, reverse=direction == "DESC")


def test_the_filtered_metric_is_joined_once_for_its_ordering() -> None:
    from jupyter_mltrack.entities import ViewType
    from jupyter_mltrack.store.sql_search import runs_query

    def reads(text: str) -> int:  # how often the query reads the latest-value table
        sql = str(runs_query(["1"], text, ViewType.ACTIVE_ONLY, ["metrics.acc DESC"]))
        return sql.count("JOIN latest_metrics") + sql.count("FROM latest_metrics")

    assert reads("metrics.acc > 0.9 and params.model = 'x'") == 1
    assert reads("params.model = 'x' and metrics.acc != 0.9") == 1
    # another metric, or a comparison under OR or NOT, keeps its own read
    assert reads("metrics.loss > 0.9 and params.model = 'x'") == 2
    assert reads("metrics.acc > 0.9 or params.model = 'x'") == 2
    assert reads("NOT metrics.acc > 0.9") == 2


# -- a key no run has: warn, and name the closest keys ------------------------------------


@pytest.mark.parametrize(
    ("text", "unknown", "suggested"),
    [
        ("metrics.accc > 0.9", "metric 'accc'", "did you mean metrics.acc?"),
        ("params.lrr = '0.01'", "param 'lrr'", "params.lr"),
        ("tags.Team = 'Vision'", "tag 'Team'", "did you mean tags.team?"),
        ("metrics.acc > 0.5 AND metrics.los < 1", "metric 'los'", "metrics.loss"),
        ("NOT metrics.acc > -inf AND params.modle LIKE 'c%'", "param 'modle'",
         "params.model"),
    ],
)
def test_a_misspelled_key_warns_and_names_the_closest(
        populated: tuple[SqlStore, str, dict[str, str]], text: str, unknown: str,
        suggested: str) -> None:
    with pytest.warns(UnknownKeyWarning) as record:
        assert _names(populated, text) == set()
    assert len(record) == 1
    message = str(record[0].message)
    assert unknown in message and suggested in message, message
    assert record[0].filename == __file__  # points at the caller's line, not the store


def test_no_warning_when_the_keys_exist_or_something_matched(
        populated: tuple[SqlStore, str, dict[str, str]]) -> None:
    import warnings

    store, exp, _ = populated
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _names(populated, "metrics.acc = 5") == set()  # the key exists
        assert _names(populated, "metrics.accc > 1 OR metrics.acc > 0.6") == {"alpha", "gamma"}
        assert _names(populated, "metrics.accc IS NULL") == ALL
        assert _names(populated, "attributes.run_name = 'nobody'") == set()
        frame, _ = store.search_runs_frame([exp], "metrics.acc > 0.95 AND metrics.acc < 0.9")
        assert frame.empty


def test_the_frame_search_warns_too(populated: tuple[SqlStore, str, dict[str, str]]) -> None:
    store, exp, _ = populated
    with pytest.warns(UnknownKeyWarning, match="metrics.loss"):
        frame, _ = store.search_runs_frame([exp], "metrics.losss < 1")
    assert frame.empty


def test_a_key_of_another_experiment_only_is_unknown_here(
        populated: tuple[SqlStore, str, dict[str, str]]) -> None:
    store, _, _ = populated
    other = store.get_experiment_by_name("elsewhere").experiment_id
    with pytest.warns(UnknownKeyWarning, match="'val.acc'"):
        assert list(store.search_runs([other], "metrics.`val.acc` > 0")) == []


def test_closest_keys_and_the_message() -> None:
    known = ["acc", "val_acc", "loss", "val_loss", "Accuracy"]
    assert closest_keys("accc", known)[0] == "acc"
    assert closest_keys("ACC", known)[0] == "acc"  # a different case comes first
    assert closest_keys("val_los", known)[0] == "val_loss"
    assert closest_keys("zzz", known) == []
    assert closest_keys("acc", known, n=1) == ["val_acc"]  # never the key itself
    assert unknown_key_message("metric", "zzz", known) == (
        "No run searched has a metric 'zzz', so metrics.zzz matched nothing; the metrics "
        "of these runs are Accuracy, acc, loss, val_acc, val_loss")
    assert unknown_key_message("tag", "t", []).endswith("these runs have no tags at all")


HOSTILE = [
    f"params.note = '{INJECTION.replace(chr(39), chr(39) * 2)}'",
    "params.model = 'cnn' OR 1=1; DROP TABLE runs; --'",
    "params.model = 'cnn'; DROP TABLE runs; --",
    "params.model = 'x' OR '1'='1'",
    "params.model = 'x\\' OR 1=1 --'",
    "tags.team = '' UNION SELECT run_uuid FROM runs --'",
    "metrics.acc > 0 /* comment */",
    "params.`lr` = '1' OR `1`=`1`",
    "params.`lr'); DROP TABLE runs; --` = '1'",
    'params."lr"" OR ""1""=""1" = \'1\'',
    "tags.`x` = 'a' -- trailing comment",
    "tags.team = '\x00'",
    "tags.team = '\ud83d'",
    "attributes.status = 'FINISHED'' OR ''1''=''1'",
    "attributes.run_name IN ('a', 'b'); DELETE FROM params; --')",
    "run_id = 'x' OR run_id LIKE '%'",
    "params.model = '" + "A" * 19_000 + "'",
    "params.model IN (" + ",".join(f"'{i}'" for i in range(2000)) + ")",
    " OR ".join(["tags.team = 'nlp'"] * 450),
    "(" * 40 + "tags.team = 'nlp'" + ")" * 40,
    "NOT " * 60 + "tags.team = 'nlp'",
    "tags.team = '\u01c5\U0001d518\u00f1\u00ed\u00e7\u00f8d\u00e9 \U0001f642'",
    "tags.team = '%'",
    "tags.team LIKE '%' ESCAPE '\\'",
]


def _table_counts(store: SqlStore) -> dict[str, int]:
    with store.engine.connect() as conn:
        names = set(sa.inspect(conn).get_table_names())
        return {name: conn.execute(sa.text(f'SELECT count(*) FROM "{name}"')).scalar_one()
                for name in names}


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_filters_never_reach_sql(populated: tuple[SqlStore, str, dict[str, str]],
                                         text: str) -> None:
    store, exp, _ = populated
    before = _table_counts(store)
    try:
        found = store.search_runs([exp], text)
    except InvalidFilter:
        found = None
    assert _table_counts(store) == before
    assert set(before) >= {t.name for t in schema.metadata.sorted_tables}
    if found is not None:
        names = {r.info.run_name for r in found}
        # Literals are values: the only hostile filter that matches is the one that
        # names the stored injection text exactly, and the big OR of 'nlp' ones.
        assert names <= {"beta", "gamma", "alpha", "zeta", "delta", "épsilon"}
        if text.startswith("params.note"):
            assert names == {"beta"}
        elif "tags.team = 'nlp'" in text:  # an even number of NOTs cancels out
            assert names == {"gamma"}
        elif text.startswith("run_id"):
            assert names == ALL
        else:
            assert names == set(), text


@pytest.fixture(scope="module")
def fuzz_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlStore]:
    folder = tmp_path_factory.mktemp("fuzz")
    store = SqlStore(f"sqlite:///{folder / 'f.db'}", str(folder))
    exp = store.create_experiment("fuzz")
    run = store.create_run(exp, "r", 1, "u")
    store.log_batch(run.run_id, [Metric("acc", 0.5, 1, 0)], {"lr": "0.1"}, {"team": "x"})
    yield store
    store.close()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_filters)
def test_fuzz_search_on_sqlite_only_raises_invalid_filter(fuzz_store: SqlStore,
                                                          text: str) -> None:
    try:
        fuzz_store.search_runs([], text, max_results=5)
    except InvalidFilter:
        pass
    assert _table_counts(fuzz_store)["runs"] == 1
