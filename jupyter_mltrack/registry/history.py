"""The audit history of a registered model, and what held a stage at a given time."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from ..entities import Stage, StageTransition
from ..errors import InvalidParameter
from ..tracking import fluent
from .rules import holders_at
from .validation import model_name

if TYPE_CHECKING:
    import pandas as pd

    from ..tracking.client import Client

HISTORY_COLUMNS = ["time", "version", "kind", "action", "alias", "from", "to", "user",
                   "comment", "request_id"]


def history_records(name: str, *, client: Client | None = None) -> list[StageTransition]:
    """Every audit record of a registered model, oldest first."""
    return fluent.client(client).registry_store.registry_history(model_name(name))


def history(name: str, *, client: Client | None = None) -> pd.DataFrame:
    """Every stage, alias, request, deletion and policy change of a model, oldest first.

    Columns: time (UTC), version, kind (stage / alias / request / lifecycle /
    policy), action, alias, from, to, user, comment, request_id. A missing value is
    ``pd.NA`` in every column (``isna()`` finds it), so the stage ``"None"`` stays text.
    """
    import pandas as pd

    records = history_records(name, client=client)

    def text(values: list[str | None]) -> Any:
        return pd.array(values, dtype="string")  # pd.NA for missing, pandas 2 and 3

    frame = pd.DataFrame({
        "time": pd.to_datetime([r.timestamp for r in records], unit="ms", utc=True),
        "version": pd.array([r.version for r in records], dtype="Int64"),
        "kind": text([r.kind for r in records]),
        "action": text([r.action for r in records]),
        "alias": text([r.alias for r in records]),
        "from": text([r.from_value for r in records]),
        "to": text([r.to_value for r in records]),
        "user": text([r.user_id for r in records]),
        "comment": text([r.comment for r in records]),
        "request_id": pd.array([r.request_id for r in records], dtype="Int64"),
    }, columns=HISTORY_COLUMNS)
    return frame


def to_millis(when: Any) -> int:
    """Milliseconds since the epoch from a datetime, pandas Timestamp, ISO text or number.

    Naive datetimes and text without a zone are taken as local time.
    """
    if isinstance(when, bool):
        raise InvalidParameter(f"{when!r} is not a time.")
    if isinstance(when, (int, float)):
        return int(when)
    if isinstance(when, str):
        try:
            when = dt.datetime.fromisoformat(when.strip())
        except ValueError:
            raise InvalidParameter(
                f"{when!r} is not a time; write ISO format such as '2024-05-01 14:30' "
                "or pass a datetime."
            ) from None
    if hasattr(when, "to_pydatetime"):
        when = when.to_pydatetime()
    if isinstance(when, dt.date) and not isinstance(when, dt.datetime):
        when = dt.datetime.combine(when, dt.time.max)
    if isinstance(when, dt.datetime):
        if when.tzinfo is None:
            when = when.astimezone()
        return int(when.timestamp() * 1000)
    raise InvalidParameter(f"{when!r} is not a time; pass a datetime, ISO text or epoch ms.")


def version_at(name: str, stage: str, when: Any, *,
               client: Client | None = None) -> int | None:
    """The version that was in ``stage`` at time ``when`` (the latest to enter it when
    several were), or None. ``when``: datetime, ISO text, or epoch milliseconds."""
    numbers = versions_at(name, stage, when, client=client)
    return numbers[-1] if numbers else None


def versions_at(name: str, stage: str, when: Any, *,
                client: Client | None = None) -> list[int]:
    """Every version that was in ``stage`` at time ``when``, the latest to enter it last."""
    target = Stage.parse(stage)
    return holders_at(history_records(name, client=client), target.value, to_millis(when))
