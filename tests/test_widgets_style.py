"""The shared stylesheet: badges stay readable in JupyterLab's light and dark themes."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from jupyter_mltrack.widgets import style

THEMES = Path(sys.prefix) / "share" / "jupyter" / "lab" / "themes" / "@jupyterlab"


def _rgb(text: str) -> tuple[float, float, float]:
    text = text.strip().lstrip("#")
    if len(text) == 3:
        text = "".join(c * 2 for c in text)
    return (int(text[0:2], 16) / 255, int(text[2:4], 16) / 255, int(text[4:6], 16) / 255)


def _mix(a, b, share: float):
    return tuple(x * share + y * (1 - share) for x, y in zip(a, b, strict=True))


def _contrast(a, b) -> float:
    def lum(c):
        lin = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in c]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _theme_colors(theme: str) -> dict[str, str]:
    """Layout colors of an installed JupyterLab theme (its CSS variables, resolved)."""
    css = (THEMES / theme / "index.css").read_text()
    out = {}
    for name in ("--jp-layout-color0", "--jp-layout-color1", "--jp-layout-color2"):
        value = re.search(re.escape(name) + r":([^;)]+[;)]?);", css).group(1)
        color = re.search(r"#[0-9a-fA-F]{3,6}", value)
        out[name] = color.group(0) if color else {"white": "#fff", "black": "#000"}[value]
    return out


def _badge_vars(status: str) -> dict[str, str]:
    """The CSS variables a status badge gets, from its class rule or inline style."""
    html = style.status_badge(status)
    found = dict(re.findall(r"(--mlt-badge[\w-]*):\s*(#[0-9a-fA-F]{3,6})",
                            re.search(r'style="([^"]*)"', html).group(1)
                            if 'style="' in html else ""))
    for cls in re.search(r'class="([^"]*)"', html).group(1).split():
        rule = re.search(r"\." + re.escape(cls) + r"\s*\{([^}]*)\}", style.CSS)
        if rule:
            found.update(re.findall(r"(--mlt-badge[\w-]*):\s*(#[0-9a-fA-F]{3,6})", rule.group(1)))
    return found


def _text_color(status: str, dark: bool) -> str:
    """The badge text color the stylesheet resolves to, in a light or a dark theme."""
    found = _badge_vars(status)
    dark_rule = re.search(r'\[data-jp-theme-light="false"\] \.mlt-badge[^{]*\{\s*color:\s*'
                          r"var\(--mlt-badge-fg-dark", style.CSS)
    if dark and dark_rule and "--mlt-badge-fg-dark" in found:
        return found["--mlt-badge-fg-dark"]
    return found.get("--mlt-badge-fg", found["--mlt-badge"])


@pytest.mark.parametrize("theme,dark", [("theme-light-extension", False),
                                        ("theme-dark-extension", True)])
@pytest.mark.parametrize("status", sorted(style.STATUS_COLORS))
def test_badges_reach_contrast_4_5_in_light_and_dark_themes(status, theme, dark) -> None:
    accent = _rgb(_badge_vars(status)["--mlt-badge"])
    text = _rgb(_text_color(status, dark))
    for name, background in _theme_colors(theme).items():
        # The badge fills itself with 13 % of its accent over the page.
        fill = _mix(accent, _rgb(background), 0.13)
        ratio = _contrast(text, fill)
        assert ratio >= 4.5, f"{status} on {theme} {name}: {ratio:.2f}"


def test_grid_badges_take_the_same_colors() -> None:
    js = (Path(style.__file__).with_name("grid.js")).read_text()
    assert '"mlt-badge-" + String(v)' in js
    assert "STATUS[v]" not in js  # no second palette in the front end
    for status in style.STATUS_COLORS:
        assert f".{style.badge_class(status)} {{" in style.CSS
