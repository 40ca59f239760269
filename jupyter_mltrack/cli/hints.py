"""Error messages in the words of the shell.

The service layer's errors suggest Python calls (``search_model_versions(...)``);
the CLI prints them with the ``mltrack`` command that does the same instead. Each
row of :data:`HINTS` is a pattern of a Python hint and its replacement.
"""

from __future__ import annotations

import ast
import re
import shlex
from collections.abc import Callable

Replacement = str | Callable[[re.Match[str]], str]


def _name(text: str) -> str:
    """A quoted Python string from a message (``'churn'``) as a shell word."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        value = text
    return shlex.quote(str(value))


def _command(template: str) -> Callable[[re.Match[str]], str]:
    def fill(match: re.Match[str]) -> str:
        values = {k: _name(v) if k == "name" else v for k, v in match.groupdict().items()}
        return "`mltrack " + template.format(**values) + "`"

    return fill


_QUOTED = r"(?P<name>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"

HINTS: list[tuple[re.Pattern[str], Replacement]] = [
    (re.compile(r"search_model_versions\(\"name = '(?P<name>[^\"]*)'\"\)"),
     lambda m: f"`mltrack models list {shlex.quote(m.group('name'))}`"),
    (re.compile(r"register_model\(model_uri, " + _QUOTED + r"\) or create it with "
                r"create_registered_model\(\)"),
     _command("models register MODEL_URI {name}")),
    (re.compile(r"transition_stage\(" + _QUOTED + r", (?P<version><version>|\d+), "
                r"'(?P<stage>\w+)'\)"),
     lambda m: "`mltrack models promote {} {} --stage {}`".format(
         _name(m.group("name")), "VERSION" if m.group("version") == "<version>"
         else m.group("version"), m.group("stage"))),
    (re.compile(r"transition_requests\(\) or `mltrack models requests`"),
     "`mltrack models requests`"),
    (re.compile(r"create_experiment\(\) or set_experiment\(\)"),
     "`mltrack experiments create NAME`"),
    (re.compile(r"use set_experiment\(\) to reuse it"),
     "see it in `mltrack experiments list`"),
    (re.compile(r"use get_experiment_by_name\(\)"), "see them in `mltrack experiments list`"),
    (re.compile(r"(?P<run>[0-9a-f]{32}) is deleted; restore_run\(\) it"),
     lambda m: f"{m.group('run')} is deleted; restore it with "
               f"`mltrack runs restore {m.group('run')[:8]}`"),
    (re.compile(r"with register_model\(\)"), "with `mltrack models register`"),
    (re.compile(r"with search_model_versions\(\)"), "with `mltrack models list NAME --filter`"),
    (re.compile(r"List runs with search_runs\(\)"), "List runs with `mltrack runs list`"),
]


def shell_hints(message: str) -> str:
    """``message`` with the Python calls it suggests replaced by ``mltrack`` commands."""
    for pattern, replacement in HINTS:
        message = pattern.sub(replacement, message)
    return message
