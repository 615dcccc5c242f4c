"""The console's charts, drawn by matplotlib as inline SVG on the server: no script, no CDN.

Each function returns an `<svg>` element. matplotlib is imported on first use (not when the server
starts), draws on its own Figure (never pyplot's global state) and, not being thread-safe, one
chart at a time.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING

from dialog.channels.console.data import RATINGS, SIGNALS, LatencyDay, LiveLatency

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.axis import Axis
    from matplotlib.typing import RcKeyType

_LOCK = threading.Lock()
_STYLE: dict[RcKeyType, object] = {
    "svg.fonttype": "none",  # text stays text: smaller, and drawn in the page's font
    "svg.hashsalt": "dialog-console",  # the same data draws the same SVG
    "font.size": 9,
    "font.family": "sans-serif",
    "axes.spines.top": False,
    "axes.spines.right": False,
}
SIZE = (5.6, 2.9)  # inches
BLUE, ORANGE, GREEN, RED, GREY = "#2f6fb0", "#e08a1e", "#3a9a5b", "#c8453c", "#9aa3ad"


def cps_over_time(cps_by_day: Mapping[date, float]) -> str:
    def draw(ax: Axes) -> None:
        _by_day(ax, cps_by_day, BLUE, "turns per session")
        ax.set_ylim(0, max(cps_by_day.values()) * 1.15)

    return _chart(
        "CPS: mean turns per finished session, by day", draw, bool(cps_by_day), "No finished sessions yet."
    )


def turns_per_session(turns: Sequence[int]) -> str:
    def draw(ax: Axes) -> None:
        top = max(turns)
        ax.hist(turns, bins=range(1, top + 2), color=BLUE, edgecolor="white", align="left")
        ax.set_xlabel("turns in the session")
        ax.set_ylabel("sessions")
        _whole_numbers(ax.yaxis)
        _whole_numbers(ax.xaxis)

    return _chart("Turns per finished session", draw, bool(turns), "No finished sessions yet.")


def route_mix(routes: Mapping[str, int]) -> str:
    def draw(ax: Axes) -> None:
        ordered = sorted(routes.items(), key=lambda item: item[1])
        total = sum(routes.values())
        bars = ax.barh([name for name, _ in ordered], [count for _, count in ordered], color=BLUE)
        ax.bar_label(bars, labels=[f"{count / total:.0%}" for _, count in ordered], padding=3)
        ax.set_xlabel("turns")
        _whole_numbers(ax.xaxis)

    return _chart("Route mix (all sessions)", draw, bool(routes), "No turns yet.")


def fallback_share(share_by_day: Mapping[date, float]) -> str:
    def draw(ax: Axes) -> None:
        _by_day(ax, {day: share * 100 for day, share in share_by_day.items()}, ORANGE, "% of turns")
        ax.set_ylim(0, 105)

    return _chart(
        "Fallback share (editorial and topic routes), by day",
        draw,
        bool(share_by_day),
        "No logged turns yet.",
    )


def feedback_share(ratings: Mapping[str, int], signals: Mapping[str, int]) -> str:
    colours = {
        "good": GREEN,
        "bad": RED,
        "unrated": GREY,
        "continued": GREEN,
        "rephrased": ORANGE,
        "left": RED,
        "open": GREY,
    }

    def draw(ax: Axes) -> None:
        for row, (label, counts, kinds) in enumerate(
            [("rated", ratings, RATINGS), ("next turn", signals, SIGNALS)]
        ):
            total, left = sum(counts.values()) or 1, 0.0
            for kind in kinds:
                share = counts.get(kind, 0) / total * 100
                ax.barh(label, share, left=left, color=colours[kind], label=f"{kind} ({counts.get(kind, 0)})")
                if share >= 8:
                    ax.text(left + share / 2, row, kind, ha="center", va="center", color="white")
                left += share
        ax.set_xlim(0, 100)
        ax.set_xlabel("% of logged turns")
        ax.invert_yaxis()
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=4, frameon=False, fontsize=8)

    return _chart(
        "Feedback: ratings and what the user did next",
        draw,
        bool(sum(ratings.values())),
        "No logged turns yet.",
    )


def latency(days: Sequence[LatencyDay], live: LiveLatency | None) -> str:
    def draw(ax: Axes) -> None:
        if days:
            _by_day(ax, {d.day: d.p50_ms for d in days}, BLUE, "ms", label="p50 (turn log)")
            _by_day(ax, {d.day: d.p95_ms for d in days}, RED, "ms", label="p95 (turn log)")
        if live is not None:
            for value, colour, name in ((live.p50_ms, BLUE, "p50"), (live.p95_ms, RED, "p95")):
                ax.axhline(
                    value,
                    color=colour,
                    linestyle="--",
                    linewidth=1,
                    label=f"{name} since start (Prometheus buckets, {live.turns} turns): ~{value:.0f} ms",
                )
        ax.set_ylim(0, max([*(d.p95_ms for d in days), live.p95_ms if live else 0.0]) * 1.15 or 1.0)
        ax.set_ylabel("ms")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=2, frameon=False, fontsize=8)

    return _chart("Turn latency percentiles", draw, bool(days) or live is not None, "No turns timed yet.")


def _by_day(
    ax: Axes, values: Mapping[date, float], colour: str, ylabel: str, label: str | None = None
) -> None:
    from matplotlib.dates import AutoDateLocator, DateFormatter, date2num

    ordered = sorted(values.items())
    days = date2num([day for day, _ in ordered])
    ax.plot(days, [value for _, value in ordered], marker="o", color=colour, label=label)
    if days[-1] - days[0] < 2:  # a day or two: widen the axis, or there is no interval to tick
        ax.set_xlim(days[0] - 1, days[-1] + 1)
    ax.xaxis.set_major_locator(AutoDateLocator(minticks=2, maxticks=6))
    ax.xaxis.set_major_formatter(DateFormatter("%b %d"))
    ax.set_ylabel(ylabel)


def _whole_numbers(axis: Axis) -> None:
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def _chart(title: str, draw: Callable[[Axes], None], has_data: bool, empty: str) -> str:
    import matplotlib
    from matplotlib.figure import Figure

    with _LOCK, matplotlib.rc_context(_STYLE):
        figure = Figure(figsize=SIZE, layout="constrained")
        ax = figure.add_subplot()
        ax.set_title(title, loc="left", fontsize=10, fontweight="bold")
        if has_data:
            draw(ax)
        else:
            ax.text(0.5, 0.5, empty, ha="center", va="center", color=GREY, transform=ax.transAxes)
            ax.set_axis_off()
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]  # inline: without the XML declaration and doctype
