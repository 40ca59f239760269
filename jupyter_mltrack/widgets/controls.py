"""The ipywidgets controls the widgets are built from, opened without their defaults.

ipywidgets opens a model with every one of its properties, unset ones included: a
``Layout`` carries some 45 nulls, a button's style eight more. A notebook saved with
widget state keeps all of them (a third of a saved ``compare()``). These classes open
with the properties that differ from the defaults (as ipywidgets' own HTML embedding
does: the front end's models have the same defaults) plus the model's identity; later
changes are sent as ipywidgets sends them, defaults included.

Use ``Layout``, ``HBox``, ``Button``... from here instead of ``ipywidgets``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

import ipywidgets as w
from ipywidgets.widgets.trait_types import InstanceDict
from ipywidgets.widgets.widget import widget_serialization

_IDENTITY = ("_model_module", "_model_module_version", "_model_name", "_view_module",
             "_view_module_version", "_view_name")


class Lean:
    """Mixin for an ipywidgets model: opened with its non-default properties only."""

    _opening = False

    def open(self) -> None:
        self._opening = True
        try:
            super().open()  # type: ignore[misc]
        finally:
            self._opening = False

    def get_state(self, key: Any = None, drop_defaults: bool = False) -> dict[str, Any]:
        if key is not None or not self._opening:
            return super().get_state(key, drop_defaults)  # type: ignore[misc]
        state: dict[str, Any] = super().get_state(None, drop_defaults=True)  # type: ignore[misc]
        for name in _IDENTITY:
            if self.has_trait(name):  # type: ignore[attr-defined]
                state[name] = getattr(self, name)
        return state


class Layout(Lean, w.Layout):
    """ipywidgets' ``Layout``, opened without its unset properties."""


def layout_trait() -> Any:
    """A ``layout`` trait whose default is a lean :class:`Layout`."""
    return InstanceDict(Layout).tag(sync=True, **widget_serialization)


W = TypeVar("W", bound=type)


def lean(cls: W) -> W:
    """``cls`` (an ipywidgets control) opening lean, with a lean layout and style."""
    namespace: dict[str, Any] = {"__module__": __name__, "__doc__": cls.__doc__,
                                 "layout": layout_trait()}
    style = cls.class_traits().get("style")  # type: ignore[attr-defined]
    if style is not None:
        lean_style = type(style.klass.__name__, (Lean, style.klass), {"__module__": __name__})
        namespace["style"] = InstanceDict(lean_style).tag(sync=True, **widget_serialization)
    return type(cls.__name__, (Lean, cls), namespace)  # type: ignore[return-value]


if TYPE_CHECKING:  # to a type checker they are the ipywidgets classes they extend
    from ipywidgets import (
        HTML,
        Button,
        Checkbox,
        Dropdown,
        FloatSlider,
        HBox,
        Tab,
        Text,
        Textarea,
        VBox,
    )
else:
    HBox = lean(w.HBox)
    VBox = lean(w.VBox)
    Tab = lean(w.Tab)
    Button = lean(w.Button)
    Checkbox = lean(w.Checkbox)
    Dropdown = lean(w.Dropdown)
    FloatSlider = lean(w.FloatSlider)
    HTML = lean(w.HTML)
    Text = lean(w.Text)
    Textarea = lean(w.Textarea)
