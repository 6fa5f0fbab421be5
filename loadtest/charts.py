"""Line charts as inline SVG for the load tests' HTML reports: axes, tick labels and a legend,
with no plotting library (a report is one self-contained file that any browser opens).

    >>> svg = line_chart({"completed": [(0.0, 1.0), (1.0, 3.0)]}, x_label="s", y_label="/s")
    >>> svg.startswith("<svg") and "completed" in svg
    True
"""

from __future__ import annotations

import math
from collections.abc import Callable
from html import escape

# A colour-blind-safe palette (Tableau 10); series past the tenth reuse it in order.
PALETTE = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
# Room around the plot for the tick labels, the axis labels and the legend.
_LEFT, _BOTTOM, _TOP, _LEGEND = 64, 44, 12, 150
# A series with this many points or fewer shows each point (a sweep of a few sizes); a
# longer one (a throughput per second) is a plain line that markers would only clutter.
_MARKERS_UP_TO = 25

Point = tuple[float, float]


def line_chart(
    series: dict[str, list[Point]],
    *,
    x_label: str,
    y_label: str,
    width: int = 640,
    height: int = 260,
    log_x: bool = False,
) -> str:
    """One SVG element: each series a line of (x, y) points, drawn in order of x. The y axis
    starts at 0 (or below, for negative values); with `log_x` the x axis is logarithmic and
    every x must be positive. Series without points still appear in the legend; with no
    point at all the chart says so."""
    points = [p for values in series.values() for p in values]
    if log_x and any(x <= 0 for x, _ in points):
        raise ValueError("a logarithmic x axis needs every x above 0")
    plot_w = width - _LEFT - _LEGEND
    plot_h = height - _TOP - _BOTTOM
    if plot_w <= 0 or plot_h <= 0:
        raise ValueError(f"a {width}x{height} chart leaves no room to plot")
    x_ticks = _log_ticks(points) if log_x else _linear_ticks([x for x, _ in points])
    y_ticks = _linear_ticks([0.0, *(y for _, y in points)])
    to_x = _scale(x_ticks[0], x_ticks[-1], _LEFT, _LEFT + plot_w, log=log_x)
    to_y = _scale(y_ticks[0], y_ticks[-1], _TOP + plot_h, _TOP, log=False)
    bottom = _TOP + plot_h
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' role='img' font-family='sans-serif' font-size='11'>",
        f"<title>{escape(y_label)} against {escape(x_label)}</title>",
        f"<rect x='{_LEFT}' y='{_TOP}' width='{plot_w}' height='{plot_h}' fill='none' "
        "stroke='#999'/>",
    ]
    for tick in x_ticks:
        at = to_x(tick)
        parts.append(
            f"<line x1='{at:.1f}' y1='{bottom}' x2='{at:.1f}' y2='{bottom + 4}' stroke='#999'/>"
            f"<text x='{at:.1f}' y='{bottom + 16}' text-anchor='middle'>"
            f"{escape(tick_label(tick))}</text>"
        )
    for tick in y_ticks:
        at = to_y(tick)
        parts.append(
            f"<line x1='{_LEFT}' y1='{at:.1f}' x2='{_LEFT + plot_w}' y2='{at:.1f}' "
            "stroke='#eee'/>"
            f"<text x='{_LEFT - 6}' y='{at + 4:.1f}' text-anchor='end'>"
            f"{escape(tick_label(tick))}</text>"
        )
    parts.append(
        f"<text x='{_LEFT + plot_w / 2:.1f}' y='{height - 8}' text-anchor='middle'>"
        f"{escape(x_label)}{' (log scale)' if log_x else ''}</text>"
        f"<text transform='translate(14 {_TOP + plot_h / 2:.1f}) rotate(-90)' "
        f"text-anchor='middle'>{escape(y_label)}</text>"
    )
    if not points:
        parts.append(
            f"<text x='{_LEFT + plot_w / 2:.1f}' y='{_TOP + plot_h / 2:.1f}' "
            "text-anchor='middle' fill='#999'>no data</text>"
        )
    for index, (name, values) in enumerate(series.items()):
        colour = PALETTE[index % len(PALETTE)]
        ordered = sorted(values)
        xy = [(to_x(x), to_y(y)) for x, y in ordered]
        if len(xy) > 1:
            line = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
            parts.append(f"<polyline fill='none' stroke='{colour}' points='{line}'/>")
        if len(xy) <= _MARKERS_UP_TO:
            parts += [f"<circle cx='{x:.1f}' cy='{y:.1f}' r='3' fill='{colour}'/>" for x, y in xy]
        key_y = _TOP + 8 + 16 * index
        key_x = _LEFT + plot_w + 12
        parts.append(
            f"<line x1='{key_x}' y1='{key_y}' x2='{key_x + 18}' y2='{key_y}' "
            f"stroke='{colour}' stroke-width='2'/>"
            f"<text x='{key_x + 24}' y='{key_y + 4}'>{escape(name)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def tick_label(value: float) -> str:
    """A tick's value, short: thousands as k, millions as M, billions as G.

    >>> [tick_label(v) for v in (0.0, 0.25, 12.0, 1500.0, 2_000_000.0)]
    ['0', '0.25', '12', '1.5k', '2M']
    """
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:.3g}"


def _linear_ticks(values: list[float]) -> list[float]:
    """Round ticks (1, 2 or 5 times a power of ten apart) covering the values, about five."""
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if high == low:
        # One value: a unit span around it, so it sits inside the axis.
        low, high = (low - 1, high + 1) if low else (0.0, 1.0)
    rough = (high - low) / 5
    power = 10 ** math.floor(math.log10(rough))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= rough)
    first = math.floor(low / step)
    last = math.ceil(high / step)
    return [k * step for k in range(first, last + 1)]


def _log_ticks(points: list[Point]) -> list[float]:
    """Powers of ten covering the x values (with 2 and 5 between them when they span less
    than two decades, so a short axis still has labels)."""
    if not points:
        return [1.0, 10.0]
    low = math.floor(math.log10(min(x for x, _ in points)))
    high = max(math.ceil(math.log10(max(x for x, _ in points))), low + 1)
    steps = (1, 2, 5) if high - low < 2 else (1,)
    ticks = [m * 10.0**e for e in range(low, high) for m in steps]
    return [*ticks, 10.0**high]


def _scale(
    low: float, high: float, start: float, end: float, *, log: bool
) -> Callable[[float], float]:
    """Map values in [low, high] onto pixels from start to end."""
    if log:
        low, high = math.log10(low), math.log10(high)

    def to_pixel(value: float) -> float:
        at = math.log10(value) if log else value
        return start + (at - low) / (high - low) * (end - start)

    return to_pixel
