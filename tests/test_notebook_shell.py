"""%%track edge cases in a real IPython shell (in process): bad input, sweeps that fail,
huge values, runs the cell leaves open, restore and diff details."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from jupyter_mltrack.errors import InvalidParameter, RunNotFound
from jupyter_mltrack.notebook import restore, sweep


@pytest.fixture
def shell(fluent: Any, tracking_uri: str) -> Iterator[InteractiveShell]:
    ip = InteractiveShell.instance()
    ip.run_cell("%load_ext jupyter_mltrack", store_history=True)
    fluent.set_tracking_uri(tracking_uri)
    fluent.set_experiment("shell")
    yield ip
    ip.run_cell("%unload_ext jupyter_mltrack", store_history=True)


def cell(ip: InteractiveShell, source: str) -> Any:
    return ip.run_cell(source, store_history=True)


def runs(fluent: Any) -> dict[str, Any]:
    found = fluent.search_runs(output_format="list", order_by=["attributes.start_time ASC"])
    return {r.info.run_name: r for r in found}


def test_syntax_error_is_shown_as_the_cells_and_starts_no_run(shell: InteractiveShell,
                                                              fluent: Any) -> None:
    result = cell(shell, "%%track --name bad\nx = (1,\n")
    assert isinstance(result.error_in_exec, SyntaxError)
    assert runs(fluent) == {}


@pytest.mark.parametrize(("line", "message"), [
    ("--param lr", "write key=value"),
    ("--param my-lr=1", "Python variable name"),
    ("--grid lr=", "name=value1,value2"),
    ("--grid lr=1 lr=2", "twice"),
    ("--grid lr=1 --param lr=2", "both --param and --grid"),
    ("--metrics 'a b'", "variable names"),
    ("--bogus", "unrecognized arguments"),
    ("--name 'unclosed", "check the quotes"),
    ("--param total=1", "computes total (line 4)"),  # line numbers of the cell
])
def test_bad_options_are_usage_errors_and_start_no_run(shell: InteractiveShell, fluent: Any,
                                                       line: str, message: str) -> None:
    result = cell(shell, f"%%track {line}\ntotal = 0\nfor i in range(3):\n    total += i\n")
    assert isinstance(result.error_in_exec, UsageError)
    assert message in str(result.error_in_exec)
    assert runs(fluent) == {}


def test_empty_body_is_a_usage_error(shell: InteractiveShell, fluent: Any) -> None:
    result = cell(shell, "%%track --name nothing\n\n")
    assert result.error_in_exec is not None
    assert runs(fluent) == {}


def test_keyboard_interrupt_raised_in_the_cell_kills_the_run(shell: InteractiveShell,
                                                            fluent: Any) -> None:
    result = cell(shell, "%%track --name stop\nlr = 0.1\nraise KeyboardInterrupt\n")
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    run = runs(fluent)["stop"]
    assert run.info.status == "KILLED" and run.data.params == {"lr": "0.1"}
    assert fluent.active_run() is None


def test_sweep_stops_at_the_first_failing_child(shell: InteractiveShell, fluent: Any) -> None:
    source = ("%%track --grid d=1,0,2 --name sweep --quiet\n"
              "d = 1\nq = 10 / d\n")
    result = cell(shell, source)
    assert isinstance(result.error_in_exec, ZeroDivisionError)
    found = runs(fluent)
    assert found["sweep"].info.status == "FAILED"
    assert found["d=1"].info.status == "FINISHED" and found["d=1"].data.metrics == {"q": 10.0}
    assert found["d=0"].info.status == "FAILED"
    assert "ZeroDivisionError" in found["d=0"].data.tags["mltrack.error"]
    assert "d=2" not in found
    assert fluent.active_run() is None


def test_sweep_grid_values_with_commas_inside_literals_and_words() -> None:
    grid = sweep.parse_grid(["layers=[64, 32],[128]", "opt=adam,'s g d'", "lr=1e-3,-2"])
    assert grid == {"layers": ["[64, 32]", "[128]"], "opt": ["'adam'", "'s g d'"],
                    "lr": ["1e-3", "-2"]}
    assert len(sweep.combinations(grid)) == 8


def test_terminal_comparison_table_of_a_sweep(shell: InteractiveShell, fluent: Any,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    cell(shell, "%%track --grid a=1,2 b=3 --name tbl\na = 0\nb = 0\ns = a + b\n")
    out = capsys.readouterr().out
    assert "sweep tbl: 2 runs" in out
    lines = [ln.split() for ln in out.splitlines() if ln.startswith("a=")]
    assert lines == [["a=1,", "b=3", "FINISHED", "1", "3", "4.0"],
                     ["a=2,", "b=3", "FINISHED", "2", "3", "5.0"]]


def test_huge_param_is_left_out_with_a_note_and_huge_cell_goes_to_an_artifact(
        shell: InteractiveShell, fluent: Any, capsys: pytest.CaptureFixture[str]) -> None:
    big = list(range(3000))  # about 16,000 characters
    filler = "\n".join(f"# line {i} " + "x" * 60 for i in range(150))
    source = f"%%track --name huge\nsmall = 1\nbig = {big!r}\n{filler}\nn = len(big)\n"
    result = cell(shell, source)
    assert result.success
    run = runs(fluent)["huge"]
    assert run.data.params == {"small": "1"}
    assert run.data.metrics == {"n": 3000.0}
    assert "param big not logged" in capsys.readouterr().out
    tags = run.data.tags
    assert tags["mltrack.notebook.cell_source_truncated"] == "true"
    assert len(tags["mltrack.notebook.cell_source"]) == 8000
    assert restore.cell_source(run) == source.rstrip("\n")


def test_runs_the_cell_leaves_open_end_with_it(shell: InteractiveShell, fluent: Any) -> None:
    cell(shell, "%%track --name parent\nimport jupyter_mltrack as m\n"
                "child = m.start_run(run_name='left-open', nested=True)\n")
    found = runs(fluent)
    assert found["parent"].info.status == "FINISHED"
    assert found["left-open"].info.status == "FINISHED"
    assert found["left-open"].info.parent_run_id == found["parent"].info.run_id
    assert fluent.active_run() is None


def test_cell_that_ends_its_own_run(shell: InteractiveShell, fluent: Any) -> None:
    result = cell(shell, "%%track --name self-ended --quiet\nimport jupyter_mltrack as m\n"
                         "m.end_run('KILLED')\n")
    assert result.success
    assert runs(fluent)["self-ended"].info.status == "KILLED"
    assert fluent.active_run() is None


def test_metrics_option_reports_names_that_are_not_numbers(
        shell: InteractiveShell, fluent: Any, capsys: pytest.CaptureFixture[str]) -> None:
    cell(shell, "%%track --name sel --metrics acc,label,missing\nacc = 0.5 * 2\n"
                "label = str(acc)\nloss = 1 - acc\n")
    run = runs(fluent)["sel"]
    assert run.data.metrics == {"acc": 1.0}
    out = capsys.readouterr().out
    assert "--metrics label: label is a str, not a number." in out
    assert "--metrics missing: missing is not defined." in out


def test_last_expression_is_the_output_and_semicolon_silences_it(
        shell: InteractiveShell, fluent: Any, capsys: pytest.CaptureFixture[str]) -> None:
    result = cell(shell, "%%track --quiet\nx = 2\nx * 21\n")
    assert result.result == 42
    result = cell(shell, "%%track --quiet\nx = 2\nx * 21;\n")
    assert result.result is None


def test_restore_of_a_grid_child_and_of_an_api_run(shell: InteractiveShell,
                                                   fluent: Any) -> None:
    cell(shell, "%%track --grid lr=0.2,0.3 --name g --quiet --tag k=v\n"
                "lr = 0.5  # the rate\nscore = lr * 2\n")
    child = runs(fluent)["lr=0.3"]
    assert json.loads(child.data.tags["mltrack.notebook.overrides"]) == {"lr": "0.3"}
    text = restore.restored_cell(child, shell.transform_cell)
    assert text.splitlines() == [
        "%%track --experiment shell --tag k=v --quiet --tag "
        f"mltrack.restored_from={child.info.run_id}",
        f"# restored from run lr=0.3 ({child.info.run_id})",
        "lr = 0.3  # the rate", "score = lr * 2",
    ]
    parent = runs(fluent)["g"]
    text = restore.restored_cell(parent, shell.transform_cell)
    assert text.splitlines()[0] == (
        "%%track --experiment shell --grid lr=0.2,0.3 --tag k=v --quiet --tag "
        f"mltrack.restored_from={parent.info.run_id}")
    assert text.splitlines()[2:] == ["lr = 0.5  # the rate", "score = lr * 2"]
    assert cell(shell, text).success  # the restored sweep runs again: 1 + 2 more runs
    again = [r for r in fluent.search_runs(output_format="list")
             if r.data.tags.get("mltrack.restored_from") == parent.info.run_id]
    assert sorted(r.info.run_name for r in again if r.info.parent_run_id is not None) == \
        ["lr=0.2", "lr=0.3"]
    cell(shell, "import jupyter_mltrack as m\nwith m.start_run(run_name='api'):\n"
                "    m.log_params({'opt': 'adam', 'n': 3, 'bad key': 1})\n")
    api = runs(fluent)["api"]
    text = restore.restored_cell(api)
    assert text.splitlines()[1:3] == ["n = 3", "opt = 'adam'"]
    assert text.splitlines()[3:] == [
        "import jupyter_mltrack as m", "with m.start_run(run_name='api'):",
        "    m.log_params({'opt': 'adam', 'n': 3, 'bad key': 1})"]


def test_restore_keeps_line_magics_in_the_body(shell: InteractiveShell, fluent: Any) -> None:
    cell(shell, "%%track --name magic --param lr=0.7 --quiet\n%time y = 1\nlr = 0.1\n")
    run = runs(fluent)["magic"]
    assert run.data.params == {"lr": "0.7"}
    body = restore.restored_cell(run, shell.transform_cell).splitlines()[2:]
    assert body == ["%time y = 1", "lr = 0.7"]


def test_find_run_by_id_prefix_and_name(shell: InteractiveShell, fluent: Any) -> None:
    cell(shell, "%%track --name one --quiet\na = 1\n")
    cell(shell, "%%track --name one --quiet\na = 2\n")
    found = fluent.search_runs(output_format="list",
                               order_by=["attributes.start_time DESC"])
    newest = found[0]
    assert restore.find_run(newest.info.run_id).info.run_id == newest.info.run_id
    assert restore.find_run(newest.info.run_id[:10]).info.run_id == newest.info.run_id
    with pytest.raises(InvalidParameter, match="2 runs match 'one'") as ambiguous:
        restore.find_run("one")
    assert all(r.info.run_id[:8] in str(ambiguous.value) for r in found)
    cell(shell, "%%track --name two --quiet\na = 3\n")
    assert restore.find_run("two").data.params == {"a": "3"}
    with pytest.raises(RunNotFound, match=r"No run has the id.*List runs with %mltrack runs"):
        restore.find_run("nope")
    result = cell(shell, "%mltrack diff one two")
    assert isinstance(result.error_in_exec, UsageError)
    assert "2 runs match 'one'" in str(result.error_in_exec)


def test_mltrack_commands_errors_are_usage_errors(shell: InteractiveShell, fluent: Any) -> None:
    for line in ("%mltrack frobnicate", "%mltrack restore", "%mltrack restore nope",
                 "%mltrack diff a", "%mltrack runs -n 0"):
        result = cell(shell, line)
        assert isinstance(result.error_in_exec, UsageError), line


def test_mltrack_runs_and_diff_in_text(shell: InteractiveShell, fluent: Any,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    cell(shell, "%mltrack runs")
    assert "No runs yet in experiment 'shell'." in capsys.readouterr().out
    cell(shell, "%%track --name a --quiet\nlr = 0.1\nacc = lr * 5\n")
    cell(shell, "%%track --name b --quiet\nlr = 0.2\nacc = lr * 5\nextra = 1.5 + 1\n")
    capsys.readouterr()
    cell(shell, "%mltrack diff a b")
    out = capsys.readouterr().out
    assert "params: 1 differ, 0 the same" in out
    assert "metrics: 2 differ, 0 the same" in out
    assert "-lr = 0.1\n+lr = 0.2" in out and "+extra = 1.5 + 1" in out
    cell(shell, "%mltrack runs -n 1")
    out = capsys.readouterr().out
    assert "1 most recent runs of 'shell'" in out and " b " in out


@pytest.mark.parametrize("line", ["--param nosuch=3", "--param lrr=0.5",
                                  "--grid nosuch=1,2", "--grid lr=0.1,0.2 epoch=1,2"])
def test_an_override_of_a_name_the_cell_never_uses_is_refused(shell: InteractiveShell,
                                                              fluent: Any, line: str) -> None:
    """A typo in --param or --grid would run the cell unchanged and log a wrong param."""
    result = cell(shell, f"%%track {line}\nlr = 0.1\nepochs = 3\nacc = lr * epochs\n")
    assert isinstance(result.error_in_exec, UsageError)
    message = str(result.error_in_exec)
    bad = line.split()[-1].split("=")[0]
    assert f"{bad}=" in message and "assigns lr, epochs" in message
    if bad == "lrr":
        assert "did you mean lr?" in message
    assert runs(fluent) == {}


def test_an_override_of_a_name_the_cell_only_reads_is_injected(shell: InteractiveShell,
                                                               fluent: Any) -> None:
    cell(shell, "%%track --name injected --param batch=8 --quiet\nlr = 0.1\nsize = lr * batch\n")
    run = runs(fluent)["injected"]
    assert run.data.params == {"lr": "0.1", "batch": "8"}
    assert run.data.metrics["size"] == pytest.approx(0.8)
