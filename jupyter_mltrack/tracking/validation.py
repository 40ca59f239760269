"""Checks on keys and values, with the documented limits.

Limits (each at least as generous as MLflow's):

=====================  ==========================================================
key (param/metric/tag)  1-250 characters: letters, digits, ``_ - . / : space``;
                        no leading ``/``, no ``..`` segment
param value             up to 8,000 characters (stored as text)
tag value               up to 8,000 characters
run / experiment name   up to 256 characters
metric value            a real number: int, float, numpy scalar or 0-d array;
                        NaN and +-inf are kept; an int beyond +-1.8e308
                        (no float holds it) is refused
step                    an integer in the signed 64-bit range
timestamp               milliseconds since the epoch, an integer in the signed
                        64-bit range
=====================  ==========================================================
"""

from __future__ import annotations

import json
import math
import re
import sys
from array import array
from collections.abc import Callable
from typing import Any

from ..errors import InvalidParameter

MAX_KEY = 250
MAX_PARAM_VALUE = 8000
MAX_TAG_VALUE = 8000
MAX_NAME = 256
MAX_BATCH = 100_000
INT64 = 2**63  # steps and timestamps lie in [-INT64, INT64)
_FLOAT_MAX = sys.float_info.max

_KEY = re.compile(r"^[\w\-. /:]+\Z")  # \Z: "$" would let a trailing newline through
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
#: Keys that passed validate_key already (up to 100,000): the hot path checks membership
#: instead of validating again.
VALID_KEYS: set[str] = set()


def validate_key(key: Any, what: str = "key") -> str:
    """Return ``key`` when it is a valid key, else raise with a fix."""
    if key.__class__ is str and key in VALID_KEYS:
        return key
    if not isinstance(key, str):
        raise InvalidParameter(f"A {what} must be a string, not {type(key).__name__} ({key!r}).")
    if not key:
        raise InvalidParameter(f"A {what} must not be empty.")
    if len(key) > MAX_KEY:
        raise InvalidParameter(f"{what.capitalize()} {key[:40]!r}... is {len(key)} characters; "
                               f"the limit is {MAX_KEY}.")
    if not _KEY.match(key):
        raise InvalidParameter(
            f"{what.capitalize()} {key!r} has characters that are not allowed; use letters, "
            "digits, underscores, dashes, periods, spaces, slashes and colons."
        )
    if key.startswith("/") or ".." in key.split("/"):
        raise InvalidParameter(f"{what.capitalize()} {key!r} must not start with '/' or "
                               "contain a '..' segment.")
    if len(VALID_KEYS) < 100_000:
        VALID_KEYS.add(key)
    return key


def param_value(value: Any) -> str:
    """The text stored for a param value: strings as they are, other values as JSON-ish."""
    if isinstance(value, str):
        text = value
    elif value is None or isinstance(value, (bool, int, float)):
        text = json.dumps(value) if not isinstance(value, float) else repr(float(value))
        if value is None:
            text = "None"
        elif isinstance(value, bool):
            text = str(value)
    else:
        text = str(value)
    if len(text) > MAX_PARAM_VALUE:
        raise InvalidParameter(
            f"Param value is {len(text)} characters; the limit is {MAX_PARAM_VALUE}. "
            "Log large values as an artifact (log_text / log_dict) instead."
        )
    return _storable(text, "Param value")


def tag_value(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_TAG_VALUE:
        raise InvalidParameter(
            f"Tag value is {len(text)} characters; the limit is {MAX_TAG_VALUE}. "
            "Log large values as an artifact instead."
        )
    return _storable(text, "Tag value")


def metric_value(key: str, value: Any) -> float:
    """``value`` as a float; NaN and +-inf are kept, numbers no float holds are refused."""
    if value.__class__ is float:
        return value
    if isinstance(value, (str, bytes)) or value is None:
        raise InvalidParameter(
            f"Metric {key!r} got {value!r}; metrics are numbers. Log text as a tag or param."
        )
    try:
        return float(value)
    except OverflowError:
        size = f"an int of {value.bit_length()} bits" if isinstance(value, int) else \
            f"a {type(value).__name__}"
        raise InvalidParameter(
            f"Metric {key!r} got {size}, a value too large for a float: metric values are "
            f"real numbers within +-{_FLOAT_MAX:.4g} (or NaN, +-inf). Scale it, or log it "
            "as a param if it must be kept exactly."
        ) from None
    except (TypeError, ValueError):
        raise InvalidParameter(
            f"Metric {key!r} got {type(value).__name__} {value!r}, which is not a real number."
        ) from None


def step_value(step: Any, key: str | None = None) -> int:
    """``step`` as an int in the signed 64-bit range."""
    if step.__class__ is int and -INT64 <= step < INT64:
        return step
    if isinstance(step, bool) or not hasattr(step, "__index__"):
        if isinstance(step, float) and step.is_integer():
            step = int(step)
        else:
            raise InvalidParameter(f"{_metric(key)}step must be an integer, not {step!r}.")
    step = int(step)
    if not -INT64 <= step < INT64:
        raise InvalidParameter(
            f"{_metric(key)}step {_short(step)} is outside the signed 64-bit integer range "
            f"({-INT64} to {INT64 - 1})."
        )
    return step


def timestamp_value(timestamp: Any, key: str | None = None) -> int:
    """``timestamp`` (milliseconds since the epoch) as an int in the signed 64-bit range."""
    if timestamp.__class__ is int and -INT64 <= timestamp < INT64:
        return timestamp
    if isinstance(timestamp, float) and math.isfinite(timestamp):
        number = int(timestamp)
    elif hasattr(timestamp, "__index__") and not isinstance(timestamp, bool):
        number = int(timestamp)
    else:
        raise InvalidParameter(
            f"{_metric(key)}timestamp is milliseconds since the epoch as an integer, "
            f"not {timestamp!r}."
        )
    if not -INT64 <= number < INT64:
        raise InvalidParameter(
            f"{_metric(key)}timestamp {_short(timestamp)} is outside the signed 64-bit range "
            f"of milliseconds since the epoch ({-INT64} to {INT64 - 1}). Pass "
            "time.time_ns() // 1_000_000 for now, or leave it out."
        )
    return number


#: How JSON spells the floats it has no numbers for (protobuf's JSON mapping).
NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def metric_columns(key: str, steps: Any, values: Any, timestamps: Any
                   ) -> tuple[array[int], array[float], array[int]]:
    """One metric's points as int64 steps, float64 values and int64 timestamps, checked a
    column at a time (values may be "NaN", "Infinity", "-Infinity"); raises naming the
    first point that is not what its column holds."""
    if not (steps.__class__ is list and values.__class__ is list
            and timestamps.__class__ is list):
        raise InvalidParameter(f"Metric {key!r}: 'steps', 'values' and 'timestamps' are "
                               "lists of equal length.")
    n = len(values)
    if len(steps) != n or len(timestamps) != n:
        raise InvalidParameter(
            f"Metric {key!r} has {len(steps)} steps, {n} values and {len(timestamps)} "
            "timestamps; every point needs one of each.")
    return (_int64s(steps, key, step_value), _floats(values, key),
            _int64s(timestamps, key, timestamp_value))


def _int64s(column: list[Any], key: str, check: Callable[[Any, str], int]) -> array[int]:
    if not column or (set(map(type, column)) == {int}
                      and -INT64 <= min(column) and max(column) < INT64):
        return array("q", column)
    return array("q", [_point(lambda x: check(x, key), x, i) for i, x in enumerate(column)])


def _floats(column: list[Any], key: str) -> array[float]:
    kinds = set(map(type, column))
    if kinds <= {float, int}:
        try:
            return array("d", column)
        except OverflowError:  # an int no float holds: said below
            pass
    return array("d", [_point(lambda x: metric_value(key, x),
                              NON_FINITE.get(x, x) if x.__class__ is str else x, i)
                       for i, x in enumerate(column)])


def _point(check: Callable[[Any], Any], value: Any, index: int) -> Any:
    try:
        return check(value)
    except InvalidParameter as exc:
        raise InvalidParameter(f"Point {index}: {exc}") from None


def _metric(key: str | None) -> str:
    return f"Metric {key!r}: " if key is not None else "A metric "


def _short(number: Any) -> str:
    """A number for a message: huge ints by their size (str() of them may even fail)."""
    if isinstance(number, int) and number.bit_length() > 128:
        return f"(an int of {number.bit_length()} bits)"
    return repr(number)


def name_value(name: Any, what: str = "run name") -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameter(f"A {what} must be a non-empty string, not {name!r}.")
    if len(name) > MAX_NAME:
        raise InvalidParameter(f"The {what} is {len(name)} characters; the limit is {MAX_NAME}.")
    return _storable(name, f"The {what}")


def _storable(text: str, what: str) -> str:
    """``text`` unless it holds what no database stores (NUL, lone surrogates)."""
    bad = _UNSTORABLE.search(text)
    if bad is not None:
        raise InvalidParameter(
            f"{what} holds {bad.group()!r} at position {bad.start()}; NUL characters and lone "
            "surrogates cannot be stored. Remove them, or log binary data as an artifact."
        )
    return text


#: Run tags that only the package writes: ``log_model`` vouches with them for the files it
#: wrote, so a user setting one by hand could make foreign bytes look trusted.
RESERVED_TAG_PREFIXES = ("mltrack.modelDigest.",)


def refuse_reserved_tags(tags: dict[str, str]) -> None:
    """Refuse tags whose keys only the package may set."""
    for key in tags:
        if key.startswith(RESERVED_TAG_PREFIXES):
            raise InvalidParameter(
                f"Tag {key!r} is written by log_model only (it records the digest of the "
                "model files it wrote, which decides whether they load without trust=True). "
                "Use another key."
            )
