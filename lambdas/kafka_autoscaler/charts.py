"""The reports' pictures, drawn with matplotlib and inlined as SVG: one file, no script.

Two kinds: stacked timeline panels sharing a time axis (the demo and the bench), and the
bench's trade-off plot (late messages against task-hours). Markers and points can carry
a tooltip: the SVG element matplotlib writes for them gets a <title>.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

plt.rcParams.update({"svg.fonttype": "none", "font.size": 10, "axes.spines.top": False, "axes.spines.right": False})

WIDTH_IN = 9.6
PANEL_HEIGHT_IN = 1.9


@dataclass(frozen=True)
class Line:
    label: str
    colour: str
    points: Sequence[tuple[float, float | None]]  # (x, y); None leaves a gap
    step: bool = False  # a count: drawn as steps
    width: float = 1.6


@dataclass(frozen=True)
class Marker:
    """A vertical line across every panel, with a tooltip."""

    x: float
    colour: str
    tip: str


@dataclass(frozen=True)
class Panel:
    title: str
    unit: str
    lines: Sequence[Line]
    reference: tuple[str, float] | None = None  # a dashed horizontal line, e.g. the target
    log_y: bool = False


@dataclass(frozen=True)
class Point:
    """One point of a trade-off plot."""

    x: float
    y: float
    colour: str
    tip: str
    label: str = ""  # written beside the point when set


@dataclass(frozen=True)
class Series:
    """Trade-off points of one policy, joined in order (a threshold sweep)."""

    label: str
    colour: str
    points: Sequence[Point]
    marker: str = "o"
    size: float = 30.0
    joined: bool = True


@dataclass
class _Tips:
    """Tooltips by the gid of the artist they belong to."""

    by_gid: dict[str, str] = field(default_factory=dict)

    def add(self, tip: str) -> str:
        gid = f"tip{len(self.by_gid)}"
        self.by_gid[gid] = tip
        return gid


def _svg(figure: Figure, tips: _Tips) -> str:
    """The figure as an inline <svg> element, each tooltip's group given its <title>."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(figure)
    text = buffer.getvalue()
    text = re.sub(r"\s*<metadata>.*?</metadata>", "", text[text.index("<svg") :], flags=re.S)
    for gid, tip in tips.by_gid.items():
        opening = re.search(f'<g id="{gid}"[^>]*>', text)
        if opening is not None:
            text = f"{text[: opening.end()]}<title>{html.escape(tip)}</title>{text[opening.end() :]}"
    return text


def timeline_svg(
    panels: Sequence[Panel], x_label: str, markers: Sequence[Marker] = (), x_max: float | None = None
) -> str:
    """Panels stacked over one shared x axis (from 0 to `x_max` when given)."""
    figure, axes = plt.subplots(
        len(panels), 1, sharex=True, figsize=(WIDTH_IN, PANEL_HEIGHT_IN * len(panels)), squeeze=False
    )
    tips = _Tips()
    for axis, panel in zip(axes[:, 0], panels, strict=True):
        for line in panel.lines:
            xs = [x for x, _ in line.points]
            ys = [float("nan") if y is None else y for _, y in line.points]
            axis.plot(
                xs,
                ys,
                color=line.colour,
                linewidth=line.width,
                label=line.label,
                drawstyle="steps-post" if line.step else "default",
            )
        if panel.reference is not None:
            label, level = panel.reference
            axis.axhline(level, color="#222", linestyle="--", linewidth=1)
            axis.annotate(label, (1.0, level), xycoords=("axes fraction", "data"), ha="right", va="bottom", fontsize=9)
        for marker in markers:
            axis.axvline(marker.x, color=marker.colour, alpha=0.45, linewidth=1.5, gid=tips.add(marker.tip))
        if panel.log_y:
            axis.set_yscale("symlog", linthresh=1.0)
        axis.set_ylim(bottom=0)
        axis.set_title(f"{panel.title} ({panel.unit})", loc="left", fontsize=10, fontweight="bold")
        axis.grid(axis="y", color="#e5e5e5")
        if len(panel.lines) > 1:
            axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    axes[-1, 0].set_xlabel(x_label)
    if x_max is not None:
        axes[-1, 0].set_xlim(0, x_max)
    figure.tight_layout()
    return _svg(figure, tips)


def tradeoff_svg(
    title: str,
    series: Sequence[Series],
    bound: float | None,
    x_label: str = "task-hours",
    y_label: str = "late messages",
    reference: tuple[str, float] | None = None,
) -> str:
    """Late fraction (y, as %) against task-hours (x); the lower bound a dashed vertical line and
    `reference` (a label and task-hours) a dotted one."""
    figure, axis = plt.subplots(figsize=(WIDTH_IN * 0.75, 4.2))
    tips = _Tips()
    for one in series:
        xs = [p.x for p in one.points]
        ys = [p.y * 100 for p in one.points]
        if one.joined and len(one.points) > 1:
            axis.plot(xs, ys, color=one.colour, linewidth=1, alpha=0.6)
        for point, y in zip(one.points, ys, strict=True):
            axis.scatter(
                [point.x], [y], color=point.colour, marker=one.marker, s=one.size, zorder=3, gid=tips.add(point.tip)
            )
            if point.label:
                axis.annotate(
                    point.label, (point.x, y), textcoords="offset points", xytext=(4, 4), fontsize=7, color="#555"
                )
        axis.scatter([], [], color=one.colour, marker=one.marker, s=one.size, label=one.label)
    lines = [("lower bound", bound, "--")] if bound is not None else []
    if reference is not None:
        lines.append((reference[0], reference[1], ":"))
    for label, x, style in lines:
        axis.axvline(x, color="#222", linestyle=style, linewidth=1)
        axis.annotate(
            label, (x, 1.0), xycoords=("data", "axes fraction"), rotation=90, ha="right", va="top", fontsize=8
        )
    axis.set_yscale("symlog", linthresh=0.1)
    axis.set_xlim(left=0)
    axis.set_ylim(0, 100)
    axis.set_xlabel(x_label)
    axis.set_ylabel(f"{y_label} (%)")
    axis.set_title(title, loc="left", fontsize=10, fontweight="bold")
    axis.grid(color="#eeeeee")
    axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    figure.tight_layout()
    return _svg(figure, tips)
