"""The capture rules of %%track on awkward code: what is a param, what may be a metric."""

from __future__ import annotations

import ast
import enum
import textwrap

import numpy as np
import pytest

from jupyter_mltrack.errors import InvalidParameter
from jupyter_mltrack.notebook.capture import (
    analyze,
    apply_overrides,
    is_literal,
    literal_text,
    metric_number,
)


def cap(source: str):  # type: ignore[no-untyped-def]
    return analyze(textwrap.dedent(source))


def test_literal_assignments_are_params_with_their_values() -> None:
    c = cap("""
        lr = 0.01
        epochs = 10
        neg = -3
        pos = +2.5
        name = "adam"
        flag = True
        nothing = None
        layers = [64, 32]
        shape = (28, 28)
        cfg = {"a": 1, "b": [1, 2], 3: None}
        classes = {1, 2}
        raw = b"x"
        joined = "a" "b"
        z = 1e-3
        c = 1j
    """)
    assert c.params == {
        "lr": 0.01, "epochs": 10, "neg": -3, "pos": 2.5, "name": "adam", "flag": True,
        "nothing": None, "layers": [64, 32], "shape": (28, 28),
        "cfg": {"a": 1, "b": [1, 2], 3: None}, "classes": {1, 2}, "raw": b"x",
        "joined": "ab", "z": 0.001, "c": 1j,
    }
    assert c.metric_names == ()


def test_computed_values_are_metric_candidates_not_params() -> None:
    c = cap("""
        import math
        lr = 0.1
        loss = math.exp(-lr)
        acc = 1 - loss
        scaled = lr * 2
        text = str(acc)
        items = [lr, 2]
        neg_name = -lr
    """)
    assert c.params == {"lr": 0.1}
    assert c.metric_names == ("loss", "acc", "scaled", "text", "items", "neg_name")


def test_augmented_assignment_makes_an_accumulator_not_a_param() -> None:
    c = cap("""
        total = 0
        total += 5
        count = 1
        count *= 3
    """)
    assert c.params == {}
    assert c.metric_names == ("total", "count")


def test_tuple_unpacking_pairs_literals_element_by_element() -> None:
    c = cap("""
        a, b = 1, "x"
        [c, d] = [2.5, None]
        e, f = 3, len("abc")
        g, h = divmod(7, 2)
        i, *rest = 1, 2, 3
        (j, k), m = (1, 2), 3
    """)
    assert c.params == {"a": 1, "b": "x", "c": 2.5, "d": None, "e": 3, "j": 1, "k": 2, "m": 3}
    assert c.metric_names == ("f", "g", "h", "i", "rest")


def test_override_inside_nested_unpacking() -> None:
    source = "(j, k), m = (1, 2), 3\n"
    new, _ = apply_overrides(source, analyze(source), {"k": "20"})
    assert new == "(j, k), m = (1, 20), 3\n"


def test_assignments_inside_functions_classes_loops_and_ifs_are_not_params() -> None:
    c = cap("""
        def train():
            inner_lr = 0.5
            return inner_lr

        class Config:
            depth = 3

        for epoch in range(3):
            step_size = 0.1
            running = epoch * 2

        if True:
            mode = 1
        else:
            mode = 2

        while False:
            w = 1

        with open(__file__) as handle:
            opened = 1

        try:
            t = 1
        except ValueError as err:
            t = 2
        result = train()
    """)
    assert c.params == {}
    assert "inner_lr" not in c.bound and "depth" not in c.bound
    # Literals in blocks are neither params nor metrics; computed values are candidates.
    assert c.metric_names == ("running", "result")
    for name in ("epoch", "handle", "err", "train", "Config"):
        assert name in c.bound and name not in c.metric_names


def test_a_param_rebound_in_a_loop_or_if_is_not_a_param() -> None:
    c = cap("""
        best = 0.0
        for x in [0.3, 0.7]:
            if x > best:
                best = x
        threshold = 0.5
        if best > 0.6:
            threshold = 0.9
    """)
    assert c.params == {}
    assert c.metric_names == ("best",)


def test_redefinition_later_in_the_cell() -> None:
    c = cap("""
        lr = 0.1
        model = lr * 10
        lr = 0.01
        decay = 0.5
        decay = decay / 2
    """)
    # Rebound only by literals: still a param, holding the last value.
    assert c.params == {"lr": 0.01}
    assert len(c.sites["lr"]) == 2
    # Rebound by a computation: an accumulator, so a metric candidate.
    assert c.metric_names == ("model", "decay")


def test_f_strings_are_computed_even_without_placeholders() -> None:
    c = cap("""
        lr = 0.1
        run = f"lr-{lr}"
        plain = f"constant"
        fmt = "{}".format(lr)
    """)
    assert c.params == {"lr": 0.1}
    assert c.metric_names == ("run", "plain", "fmt")


def test_walrus_binds_at_module_scope_even_in_comprehensions() -> None:
    c = cap("""
        data = [1, 2, 3]
        if (n := len(data)) > 2:
            pass
        squares = [last := x * x for x in data]
        print(y := 5)
        f = lambda: (inner := 1)
    """)
    assert c.params == {"data": [1, 2, 3]}
    assert "n" in c.metric_names and "last" in c.metric_names
    assert "y" not in c.metric_names and "y" in c.bound  # a literal via walrus: neither
    assert "inner" not in c.bound
    assert "x" not in c.bound  # the comprehension variable has its own scope


def test_annotated_assignments() -> None:
    c = cap("""
        lr: float = 0.01
        epochs: int
        layers: list[int] = [64, 32]
        score: float = lr * 3
    """)
    assert c.params == {"lr": 0.01, "layers": [64, 32]}
    assert c.metric_names == ("score",)
    assert "epochs" not in c.bound


def test_chained_assignment_binds_every_target() -> None:
    c = cap("a = b = 3\nc = d = a + 1\n")
    assert c.params == {"a": 3, "b": 3}
    assert c.sites["a"][0].chained
    assert c.metric_names == ("c", "d")


def test_global_writes_from_functions_and_other_bindings() -> None:
    c = cap("""
        counter = 0
        limit = 10
        def bump():
            global counter
            counter = counter + 1
            local = 5
        import numpy as np
        from math import pi as PI
        del limit
    """)
    assert c.params == {}
    assert c.metric_names == ("counter",)
    assert {"np", "PI", "bump", "limit"} <= c.bound
    assert "local" not in c.bound


def test_match_captures_are_not_params() -> None:
    c = cap("""
        point = (1, 2)
        match point:
            case (x, y):
                dist = x + y
            case {"k": v, **others}:
                pass
    """)
    assert c.params == {"point": (1, 2)}
    assert {"x", "y", "v", "others"} <= c.bound
    assert c.metric_names == ("dist",)


def test_ignore_comment_leaves_every_name_of_the_line_out() -> None:
    c = cap("""
        lr = 0.1
        seed = 42  # mltrack: ignore
        acc = lr * 9  #mltrack:ignore
        loss = 1 - lr
        total = 0  # mltrack: ignore
        total += 1
        note = "x"  # mltrack: ignore this
    """)
    assert c.params == {"lr": 0.1, "note": "x"}
    assert c.metric_names == ("loss",)
    assert c.ignored == {"seed", "acc", "total"}


def test_ignore_marker_on_any_line_of_a_multiline_statement() -> None:
    c = cap("""
        cfg = {
            "a": 1,
        }  # mltrack: ignore
        big = [
            1,  # mltrack: ignore
            2,
        ]
    """)
    assert c.params == {}
    assert c.ignored == {"cfg", "big"}


def test_huge_literal_values_are_parsed_exactly() -> None:
    values = list(range(20_000))
    c = analyze(f"grid = {values!r}\nbig_int = {10**40}\nhuge_text = {'x' * 50_000!r}\n")
    assert c.params["grid"] == values
    assert c.params["big_int"] == 10**40
    assert len(c.params["huge_text"]) == 50_000


def test_syntax_errors_are_raised() -> None:
    with pytest.raises(SyntaxError):
        analyze("x = (1,\n")


def test_is_literal_rejects_names_calls_and_ellipsis() -> None:
    for text in ("x", "f()", "...", "[1, x]", "{**d}", "-x", "1 + 2", "not True", "(1, f())"):
        assert not is_literal(ast.parse(text, mode="eval").body), text
    for text in ("-1", "+1.5", "-1j", "[(), {}]", "{1: 'a'}"):
        assert is_literal(ast.parse(text, mode="eval").body), text


# -- overrides ----------------------------------------------------------------------------


def test_override_rewrites_every_literal_assignment_in_place() -> None:
    source = textwrap.dedent("""\
        lr = 0.1  # the rate
        model = lr * 10
        lr = 0.01
        epochs: int = 3
        a, b = 1, 2
    """)
    c = analyze(source)
    new, inject = apply_overrides(source, c, {"lr": "0.5", "epochs": "7", "b": "'two'"})
    assert new == textwrap.dedent("""\
        lr = 0.5  # the rate
        model = lr * 10
        lr = 0.5
        epochs: int = 7
        a, b = 1, 'two'
    """)
    assert inject == {}
    namespace: dict[str, object] = {}
    exec(new, namespace)  # noqa: S102 - checking the rewritten code runs as intended
    assert namespace["model"] == 5.0 and namespace["b"] == "two"


def test_override_of_a_multiline_literal_and_non_ascii_source() -> None:
    source = 'label = "héllo wörld"; cfg = {\n    "a": 1,\n    "b": 2,\n}\nafter = 1\n'
    c = analyze(source)
    new, _ = apply_overrides(source, c, {"cfg": "{'a': 3}", "label": "'ü'"})
    assert new == "label = 'ü'; cfg = {'a': 3}\nafter = 1\n"


def test_override_of_a_chained_assignment_appends_an_assignment() -> None:
    source = "a = b = 3\nc = a + b\n"
    new, _ = apply_overrides(source, analyze(source), {"a": "10"})
    namespace: dict[str, object] = {}
    exec(new, namespace)  # noqa: S102
    assert namespace["c"] == 13 and namespace["b"] == 3


def test_override_of_a_name_the_cell_does_not_bind_is_injected() -> None:
    source = "y = x * 2\n"
    new, inject = apply_overrides(source, analyze(source), {"x": "4"})
    assert new == source and inject == {"x": "4"}


def test_override_of_a_computed_name_is_refused_with_the_line() -> None:
    source = "lr = 0.1\nfor i in range(2):\n    lr = lr / 2\n"
    with pytest.raises(InvalidParameter, match=r"computes lr \(line 3\)"):
        apply_overrides(source, analyze(source), {"lr": "0.2"})


def test_override_of_an_ignored_name_is_refused() -> None:
    source = "seed = 1  # mltrack: ignore\n"
    with pytest.raises(InvalidParameter, match="mltrack: ignore"):
        apply_overrides(source, analyze(source), {"seed": "2"})


def test_override_name_must_be_a_variable_name() -> None:
    with pytest.raises(InvalidParameter, match="Python variable name"):
        apply_overrides("x = 1\n", analyze("x = 1\n"), {"my-param": "2"})


def test_literal_text_keeps_literals_as_written_and_quotes_the_rest() -> None:
    assert literal_text("1e-3") == "1e-3"
    assert literal_text("-5") == "-5"
    assert literal_text("[64, 32]") == "[64, 32]"
    assert literal_text("'adam'") == "'adam'"
    assert literal_text("adam") == "'adam'"
    assert literal_text("None") == "None"
    assert literal_text("a b") == "'a b'"
    assert literal_text("print(1)") == "'print(1)'"
    assert literal_text("") == "''"


# -- metric values ------------------------------------------------------------------------


class Color(enum.IntEnum):
    RED = 1


@pytest.mark.parametrize(("value", "expected"), [
    (3, 3.0), (0.5, 0.5), (-2, -2.0), (np.float32(0.25), 0.25), (np.int64(7), 7.0),
    (np.uint8(200), 200.0), (np.array(1.5), 1.5), (np.float64("nan"), None),
    (True, None), (np.bool_(True), None), (Color.RED, None), (1 + 2j, None), ("1", None),
    (np.array([1.0]), None), (np.array("x"), None), (None, None), (10**400, None),
    ([1], None),
])
def test_metric_number(value: object, expected: float | None) -> None:
    result = metric_number(value)
    if isinstance(value, np.floating) and np.isnan(value):
        assert result is not None and np.isnan(result)
    else:
        assert result == expected
