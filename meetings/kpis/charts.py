"""The KPI report's charts: matplotlib (Agg, no pyplot) drawn to SVG for inlining.

Text stays text in the SVG, so the reader's CJK fonts draw it; every id is prefixed
with the chart's name, so several charts can share one HTML document. matplotlib is
imported when a chart is drawn, so commands that draw none do not load it.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from meetings.kpis.formulas import KpiReport

_FONTS = ["Noto Sans CJK TC", "Noto Sans TC", "Microsoft JhengHei", "PingFang TC", "DejaVu Sans"]
_BLUE, _LIGHT, _ORANGE = "#3b7dd8", "#b8c7e0", "#e07b39"


@contextmanager
def _chart_style(name: str) -> Iterator[None]:
    """Text stays text in the SVG (the reader's CJK fonts draw it); ids unique per chart."""
    import matplotlib

    matplotlib.use("Agg")
    with (
        matplotlib.rc_context(
            {
                "svg.fonttype": "none",
                "svg.hashsalt": f"liaison-{name}",
                "font.family": "sans-serif",
                "font.sans-serif": _FONTS,
                "font.size": 9,
            }
        ),
        warnings.catch_warnings(),
    ):
        # Layout is measured with the bundled font, which has no CJK glyphs.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        yield


def _svg(fig: Any, name: str) -> str:
    """The figure as an SVG element for inlining; its ids prefixed with ``name``.

    Several charts share one HTML document, and matplotlib numbers its ids per figure.
    """
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    text = text.replace(' id="', f' id="{name}-')
    text = text.replace('href="#', f'href="#{name}-')
    return text.replace("url(#", f"url(#{name}-")


def bar_chart_svg(
    name: str, title: str, items: Sequence[tuple[str, float | None]], *, max_value: float = 100.0
) -> str:
    """Horizontal bars (percentages); a missing value (empty denominator) is marked 無資料."""
    from matplotlib.figure import Figure

    with _chart_style(name):
        n = max(1, len(items))
        fig = Figure(figsize=(8, 0.8 + 0.28 * n))
        fig.subplots_adjust(left=0.38, right=0.95, top=1 - 0.45 / (0.8 + 0.28 * n), bottom=0.1)
        ax = fig.add_subplot()
        labels = [label for label, _ in items]
        values = [0.0 if v is None else v for _, v in items]
        ys = list(range(len(items)))
        ax.barh(ys, values, color=_BLUE, height=0.6)
        for y, (_, v) in zip(ys, items, strict=True):
            ax.text(
                (v or 0) + max_value * 0.01,
                y,
                "無資料" if v is None else f"{v:g}",
                va="center",
                fontsize=8,
                color="#888" if v is None else "#222",
            )
        ax.set_yticks(ys, labels)
        ax.invert_yaxis()
        ax.set_xlim(0, max_value * 1.1)
        ax.set_title(title, loc="left", fontsize=11, fontweight="bold")
        ax.spines[["top", "right"]].set_visible(False)
        return _svg(fig, name)


def trend_chart_svg(report: KpiReport) -> str:
    """Monthly meetings scheduled vs held (columns) and 個案研討次數 (line)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    with _chart_style("trend"):
        fig = Figure(figsize=(8, 3.2))
        fig.subplots_adjust(left=0.08, right=0.92, top=0.85, bottom=0.2)
        ax = fig.add_subplot()
        months = [m.month for m in report.monthly]
        ax.bar([m - 0.2 for m in months], [m.scheduled for m in report.monthly], 0.4,
               color=_LIGHT, label="應召開")  # fmt: skip
        ax.bar([m + 0.2 for m in months], [m.held for m in report.monthly], 0.4,
               color=_BLUE, label="已召開")  # fmt: skip
        ax.set_xticks(months, [f"{m}月" for m in months])
        ax.set_ylabel("會議次數")
        ax2 = ax.twinx()
        ax2.plot(months, [m.case_discussions for m in report.monthly], color=_ORANGE,
                 marker="o", label="個案研討次數")  # fmt: skip
        ax2.set_ylabel("個案研討次數")
        ax.set_ylim(bottom=0)
        ax2.set_ylim(bottom=0)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax2.yaxis.set_major_locator(MaxNLocator(integer=True))
        handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
        fig.legend(handles, ["應召開", "已召開", "個案研討次數"], loc="lower center", ncol=3,
                   frameon=False)  # fmt: skip
        ax.set_title(f"民國{report.roc_year}年 月別會議召開情形", loc="left", fontsize=11,
                     fontweight="bold")  # fmt: skip
        return _svg(fig, "trend")
