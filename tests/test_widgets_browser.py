"""The widgets in a real JupyterLab, in headless Chromium: run notebooks/compare.ipynb,
select a run, see the chart change, keep screenshots, and check nothing left 127.0.0.1.

Screenshots go to a temporary folder; ``MLTRACK_UPDATE_SCREENSHOTS=1`` writes them to
docs/screenshots instead (the ones the docs show).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests import browser_support as bs

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab serving a copy of notebooks/compare.ipynb with its own store."""
    root = tmp_path_factory.mktemp("lab")
    shutil.copy(ROOT / "notebooks" / "compare.ipynb", root / "compare.ipynb")
    env = {"MLTRACK_TRACKING_URI": f"sqlite:///{root / '.mltrack' / 'mltrack.db'}"}
    with bs.jupyterlab(root, env=env) as server:
        yield server


def _legend(widget) -> list[str]:
    labels = widget.locator(".mltrack-chart-history svg .role-legend-label text")
    return labels.all_text_contents()  # type: ignore[no-any-return]


@pytest.mark.browser
@pytest.mark.slow
def test_compare_notebook_in_jupyterlab(lab, shots: Path) -> None:
    with bs.chromium() as browser:
        page = bs.new_page(browser, height=2400)  # tall: whole widgets fit
        requests = bs.RequestLog(page)
        bs.open_notebook(page, lab, "compare.ipynb")
        bs.run_all(page, lab)

        widget = page.locator(".mltrack-compare").first
        widget.scroll_into_view_if_needed()
        rows = widget.locator(".mlt-grid-table tbody tr")
        bs.wait_for(lambda: rows.count() >= 10, what="the runs table")
        before = bs.wait_for(lambda: _legend(widget), what="the history chart")
        assert len(before) == 10  # nothing selected: the top ten rows are charted
        # Each widget's static copy (for viewers without a kernel) is hidden once the
        # widget is live: every widget shows once.
        copies = page.locator("[data-mlt-static]")
        assert copies.count() >= 5
        bs.wait_for(lambda: not any(copies.nth(i).is_visible() for i in range(copies.count())),
                    what="the static copies to be hidden")
        assert page.locator(".mltrack-compare").count() == 3
        bs.screenshot(widget, shots / "compare.png")

        # Sort by a metric with a header click: the Python side re-sorts and sends a page.
        header = widget.locator("th.mlt-sortable", has_text="val_accuracy")
        header.click()
        bs.wait_for(lambda: "▲" in header.inner_text(), what="the sort arrow")

        # Tick one row: the charts now show that run alone.
        row = rows.nth(2)
        name = row.locator("td.mlt-name").inner_text()
        row.locator("td.mlt-box input").click()
        bs.wait_for(lambda: _legend(widget) == [name] and _legend(widget),
                  what=f"the legend to show only {name}")
        assert "1 selected" in widget.locator(".mlt-grid-footer").inner_text()
        bars = widget.locator(".mltrack-chart-final svg")
        assert name in (bars.text_content() or "")
        page.mouse.move(0, 0)
        bs.screenshot(widget, shots / "compare-selected.png")

        # A filter typed into the box narrows the table.
        box = widget.locator(".widget-text input").first
        box.fill("params.momentum = 0.9 and params.lr = 0.1")
        box.press("Enter")
        bs.wait_for(lambda: rows.count() == 2, what="the filtered table")

        # The side-by-side view of the two %%track runs, with the diff of their cells.
        pair = page.locator(".mltrack-compare").nth(1)
        pair.scroll_into_view_if_needed()
        diff = pair.locator(".mlt-diff-add")
        bs.wait_for(lambda: diff.count() > 0, what="the cell source diff")
        assert "activation" in pair.locator("pre.mlt-diff").first.inner_text()
        bs.screenshot(pair, shots / "side-by-side.png")

        # The live widget ended with the run FINISHED, without re-running its cell.
        live = page.locator(".mltrack-compare").nth(2)
        bs.wait_for(lambda: "live-sgd" in live.inner_text(), what="the live run")
        live_row = live.locator("tr", has_text="live-sgd")
        bs.wait_for(lambda: "FINISHED" in live_row.inner_text(), what="the live status")

        # show_run: the artifact browser previews the confusion matrix.
        run = page.locator(".mltrack-run").first
        run.scroll_into_view_if_needed()
        run.locator(".lm-TabBar-tab", has_text="Artifacts").click()
        run.locator("tr", has_text="plots/").first.click()
        run.locator("tr", has_text="confusion.png").first.click()
        image = run.locator("img.mlt-img")
        image.wait_for()
        bs.wait_for(lambda: image.evaluate("img => img.naturalWidth") > 0, what="the image")
        bs.screenshot(run, shots / "show-run-artifacts.png")
        run.locator(".lm-TabBar-tab", has_text="Metrics").click()
        run.locator(".mltrack-chart-panels svg").first.wait_for()
        bs.screenshot(run, shots / "show-run-metrics.png")

        requests.assert_only_loopback()
    taken = sorted(p.name for p in shots.glob("*.png"))
    assert {"compare.png", "compare-selected.png", "side-by-side.png",
            "show-run-artifacts.png", "show-run-metrics.png"} <= set(taken)
    assert all((shots / name).stat().st_size > 10_000 for name in taken)
