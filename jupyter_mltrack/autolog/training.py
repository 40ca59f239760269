"""One autologged training call: the run it logs into and what it logs there.

The run is the active one (inside ``%%track``, the cell's run; inside
``with mltrack.start_run()``, that run). With none active, a run is started as MLflow
does and ended when training ends (FAILED when training raised); in a process started by
``mltrack run`` that run is the runner's and stays open.

Every logging method here may fail: callers go through :func:`patching.safely`, so a
failure is warned about once and training goes on.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..entities import Metric, RunStatus
from ..errors import InvalidParameter, ParamConflict
from ..tracking import context, fluent
from ..tracking.validation import MAX_PARAM_VALUE, param_value, validate_key
from . import patching

#: Tag naming the flavor whose autologging started a run (MLflow: ``mlflow.autologging``).
AUTOLOGGING_TAG = "mltrack.autologging"
#: Rows of the training data kept as input example and for the signature.
EXAMPLE_ROWS = 5


@dataclass
class Options:
    """A flavor's autolog settings, as its ``autolog()`` was called."""

    log_models: bool = True
    log_input_examples: bool = False
    log_model_signatures: bool = True
    exclusive: bool = False
    silent: bool = False
    registered_model_name: str | None = None
    extra_tags: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # flavor-specific settings


class Training:
    """The run one training call logs into; every method is best effort."""

    def __init__(self, flavor: str, options: Options, run_id: str, started: bool):
        self.flavor = flavor
        self.options = options
        self.run_id = run_id
        self.started = started
        self.client = fluent.client()
        self._models = 0

    # -- the run ---------------------------------------------------------------------------

    @classmethod
    def begin(cls, flavor: str, options: Options) -> Training | None:
        """The training's run; None when ``exclusive`` and a run of the user's is active."""
        active = fluent.active_run()
        if active is not None:
            if options.exclusive:
                return None
            training = cls(flavor, options, active.info.run_id, started=False)
            if options.extra_tags:
                training.client.set_tags(training.run_id, options.extra_tags)
            return training
        tags = {AUTOLOGGING_TAG: flavor, **options.extra_tags}
        run = fluent.start_run(tags=tags)
        runner_run = run.info.run_id == os.environ.get(fluent.RUN_ID_ENV)
        return cls(flavor, options, run.info.run_id, started=not runner_run)

    def end(self, failed: BaseException | None = None) -> None:
        """End the run when this training started it."""
        if not self.started:
            return
        active = fluent.active_run()
        if active is None or active.info.run_id != self.run_id:
            return  # the user's code ended it already
        if failed is None:
            fluent.end_run(RunStatus.FINISHED.value)
        else:
            killed = isinstance(failed, KeyboardInterrupt)
            fluent.end_run((RunStatus.KILLED if killed else RunStatus.FAILED).value)

    def safely(self, what: str, action: Callable[[], Any], default: Any = None) -> Any:
        return patching.safely(self.flavor, what, self.options.silent, action, default)

    # -- values ----------------------------------------------------------------------------

    def log_params(self, params: Mapping[str, Any], run_id: str | None = None) -> None:
        """Log params, skipping those the run holds already (params are immutable: a
        different earlier value is kept, and warned about once)."""
        run_id = run_id or self.run_id
        texts = {str(k): _param_text(v) for k, v in params.items() if _valid_key(str(k))}
        stored = self.client.get_run(run_id).data.params
        conflicts = sorted(k for k, t in texts.items() if k in stored and stored[k] != t)
        new = {k: t for k, t in texts.items() if k not in stored}
        if new:
            self.client.log_batch(run_id, params=new)
        if conflicts:
            patching.warn_once(self.flavor, "log params the run holds with other values",
                               ParamConflict(f"kept the earlier values of {', '.join(conflicts)}"),
                               self.options.silent)

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None,
                    run_id: str | None = None) -> None:
        """Log the numeric ones of ``metrics`` (others are skipped) at ``step``."""
        now = time.time_ns() // 1_000_000
        points = [Metric(str(k), float(v), now, step or 0) for k, v in metrics.items()
                  if _is_number(v)]
        if points:
            self.client.log_batch(run_id or self.run_id, metrics=points)

    def log_metric_point(self, key: str, value: Any, step: int) -> None:
        """One point of a per-epoch history (buffered, as ``log_metric`` is)."""
        if _is_number(value):
            self.client.log_metric(self.run_id, key, float(value), step=step)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        self.client.set_tags(self.run_id, dict(tags))

    # -- models ----------------------------------------------------------------------------

    def log_model(self, model: Any, example: Any, predict: Callable[[Any], Any] | None,
                  name: str = "model", **flavor_options: Any) -> Any:
        """Log ``model`` with a signature inferred from ``example`` and ``predict(example)``
        (when asked for); a second model in the same run gets ``name_2``, ``name_3``..."""
        from ..models import infer_signature, log_model

        if not self.options.log_models:
            return None
        signature = None
        if self.options.log_model_signatures and example is not None:
            output = self.safely("infer the model's output schema",
                                 lambda: predict(example) if predict else None)
            signature = self.safely("infer a signature",
                                    lambda: infer_signature(example, output))
        taken = {f.path for f in self.client.list_artifacts(self.run_id)}
        path = name
        number = 1
        while path in taken:
            number += 1
            path = f"{name}_{number}"
        info = log_model(model, path, signature=signature,
                         input_example=example if self.options.log_input_examples else None,
                         run_id=self.run_id, client=self.client, progress=False,
                         **flavor_options)
        if self.options.registered_model_name:
            from ..registry import register_model

            register_model(info.model_uri, self.options.registered_model_name,
                           client=self.client)
        return info

    # -- child runs ------------------------------------------------------------------------

    def child_run(self, tags: Mapping[str, Any], params: Mapping[str, Any],
                  metrics: Mapping[str, Any]) -> str:
        """A finished child run of this run holding ``params`` and ``metrics``."""
        parent = self.client.get_run(self.run_id)
        all_tags = context.run_context()
        all_tags.update({AUTOLOGGING_TAG: self.flavor, context.PARENT_RUN: self.run_id})
        all_tags.update(tags)
        child = self.client.create_run(parent.info.experiment_id, tags=all_tags,
                                       parent_run_id=self.run_id)
        child_id = child.info.run_id
        try:
            self.log_params(params, run_id=child_id)
            self.log_metrics(metrics, run_id=child_id)
        finally:
            self.client.set_terminated(child_id, RunStatus.FINISHED.value)
        return child_id


def example_rows(data: Any) -> Any:
    """The first rows of training data (a copy), or None when it cannot be sliced."""
    import copy

    if data is None:
        return None
    try:
        rows = data.iloc[:EXAMPLE_ROWS] if hasattr(data, "iloc") else data[:EXAMPLE_ROWS]
        return copy.deepcopy(rows)
    except Exception:  # noqa: BLE001 - iterators, datasets and generators have no rows
        return None


def _param_text(value: Any) -> str:
    """The param text of ``value``, cut to the limit (as MLflow's autologging does)."""
    text = value if isinstance(value, str) else str(value) \
        if not (value is None or isinstance(value, (bool, int, float))) else param_value(value)
    if len(text) > MAX_PARAM_VALUE:
        text = text[:MAX_PARAM_VALUE - 3] + "..."
    return param_value(text)


def _valid_key(key: str) -> bool:
    try:
        validate_key(key, "param key")
    except InvalidParameter:
        return False
    return True


def _is_number(value: Any) -> bool:
    import numbers

    if isinstance(value, bool):
        return False
    if isinstance(value, numbers.Real):
        return True
    try:  # numpy scalars and 0-d arrays, torch scalars
        return getattr(value, "shape", None) == () and isinstance(float(value), float)
    except (TypeError, ValueError):
        return False


#: The settings of each enabled flavor (a flavor that is not here logs nothing).
ENABLED: dict[str, Options] = {}

Before = Callable[[Training, tuple[Any, ...], dict[str, Any]],
                  tuple[tuple[Any, ...], dict[str, Any], Any]]
After = Callable[[Training, tuple[Any, ...], dict[str, Any], Any, Any], None]


def call(flavor: str, original: Callable[..., Any], args: tuple[Any, ...],
         kwargs: dict[str, Any], *, before: Before | None = None,
         after: After | None = None) -> Any:
    """Run ``original(*args, **kwargs)`` as one autologged training.

    ``before`` may return changed arguments (a callback added) and a state for
    ``after``, which logs what training produced. Only the outermost patched call in the
    process logs; a failure of either is warned about once and never reaches the caller,
    whose own exceptions pass through unchanged (ending a run autolog started FAILED).
    """
    options = ENABLED.get(flavor)
    with patching.outermost() as first:
        if options is None or not first:
            return original(*args, **kwargs)
        training = patching.safely(flavor, "start a run", options.silent,
                                   lambda: Training.begin(flavor, options))
        if training is None:
            return original(*args, **kwargs)
        state = None
        if before is not None:
            prepared = training.safely("prepare logging", lambda: before(training, args, kwargs))
            if prepared is not None:
                args, kwargs, state = prepared
        try:
            result = original(*args, **kwargs)
        except BaseException as exc:
            training.safely("end the run", lambda failed=exc: training.end(failed))
            raise
        if after is not None:
            training.safely("log the training",
                            lambda: after(training, args, kwargs, result, state))
        training.safely("end the run", training.end)
        return result
