"""Line charts drawn on the server as SVG geometry (no JavaScript, no CDN).

``line_chart`` turns time series into coordinates and axis ticks; the template
``dashboard/_chart.html`` draws them and, for screen readers and anyone who prefers numbers,
the same data as a table. Series are told apart by dash pattern and legend text as well as
colour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 28


@dataclass(frozen=True)
class Series:
    name: str
    points: list[tuple[datetime, float]]
    style: str = "s1"  # CSS class: colour and dash pattern (s1..s4)
    step: bool = False  # hold each value until the next (weights), instead of joining points


@dataclass
class Chart:
    key: str
    title: str
    unit: str
    width: int = WIDTH
    height: int = HEIGHT
    paths: list[dict] = field(default_factory=list)
    y_ticks: list[dict] = field(default_factory=list)
    x_ticks: list[dict] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    legend: list[dict] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)
    summary: str = ""

    @property
    def empty(self) -> bool:
        return not self.rows

    @property
    def plot_left(self) -> int:
        return LEFT

    @property
    def plot_right(self) -> int:
        return self.width - RIGHT

    @property
    def plot_bottom(self) -> int:
        return self.height - BOTTOM

    @property
    def plot_top(self) -> int:
        return TOP

    @property
    def mid_x(self) -> int:
        return (LEFT + self.width - RIGHT) // 2

    @property
    def mid_y(self) -> int:
        return (TOP + self.height - BOTTOM) // 2


def _nice_max(value: float) -> float:
    """A round axis maximum at or above ``value`` (1, 2, 2.5, 5 × 10^n)."""
    if value <= 0:
        return 1.0
    exp = math.floor(math.log10(value))
    for m in (1, 2, 2.5, 5, 10):
        top = m * 10**exp
        if top >= value:
            return float(top)
    return float(10 ** (exp + 1))


def _fmt(value: float) -> str:
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _dedupe_steps(points: list[tuple[datetime, float]]) -> list[tuple[datetime, float]]:
    """Keep only the points where a step series changes value (and its last point)."""
    out: list[tuple[datetime, float]] = []
    for i, (at, v) in enumerate(points):
        if not out or out[-1][1] != v or i == len(points) - 1:
            out.append((at, v))
    return out


def line_chart(
    *,
    key: str,
    title: str,
    unit: str,
    series: list[Series],
    start: datetime,
    end: datetime,
    y_max: float | None = None,
) -> Chart:
    chart = Chart(key=key, title=title, unit=unit)
    series = [
        Series(s.name, _dedupe_steps(sorted(s.points)) if s.step else sorted(s.points), s.style, s.step) for s in series
    ]
    values = [v for s in series for _, v in s.points]
    top = y_max if y_max is not None else _nice_max(max(values, default=0.0) * 1.1)
    x0, x1, y0, y1 = chart.plot_left, chart.plot_right, chart.plot_bottom, chart.plot_top
    span = max(1.0, (end - start).total_seconds())

    def x(at: datetime) -> float:
        return round(x0 + (x1 - x0) * min(1.0, max(0.0, (at - start).total_seconds() / span)), 1)

    def y(v: float) -> float:
        return round(y0 - (y0 - y1) * min(1.0, max(0.0, v / top)), 1)

    for s in series:
        if not s.points:
            continue
        cmds = []
        for i, (at, v) in enumerate(s.points):
            if i == 0:
                cmds.append(f"M{x(at)},{y(v)}")
            elif s.step:
                cmds.append(f"H{x(at)}V{y(v)}")
            else:
                cmds.append(f"L{x(at)},{y(v)}")
        if s.step:
            cmds.append(f"H{x(end)}")  # the last value holds until now
        chart.paths.append({"name": s.name, "style": s.style, "d": " ".join(cmds)})
    chart.y_ticks = [{"y": y(top * f), "label": _fmt(top * f)} for f in (0, 0.25, 0.5, 0.75, 1)]
    hours = span / 3600
    stride = timedelta(minutes=15 if hours <= 1.5 else 30 if hours <= 4 else 60 if hours <= 12 else 240)
    tick = datetime.fromtimestamp(
        math.ceil(start.timestamp() / stride.total_seconds()) * stride.total_seconds(), tz=UTC
    )
    while tick <= end:
        chart.x_ticks.append({"x": x(tick), "label": tick.strftime("%H:%M")})
        tick += stride
    # The table: one row per moment, one column per series (blank where a series has no value).
    chart.columns = [s.name for s in series]
    chart.legend = [{"name": s.name, "style": s.style, "empty": not s.points} for s in series]
    by_time: dict[datetime, dict[str, float]] = {}
    for s in series:
        for at, v in s.points:
            by_time.setdefault(at, {})[s.name] = v
    chart.rows = [
        {"at": at, "values": [_fmt(by_time[at][c]) if c in by_time[at] else "" for c in chart.columns]}
        for at in sorted(by_time, reverse=True)
    ]
    described = []
    for s in series:
        if s.points:
            vals = [v for _, v in s.points]
            described.append(f"{s.name}: latest {_fmt(vals[-1])}, highest {_fmt(max(vals))}")
        else:
            described.append(f"{s.name}: no data")
    chart.summary = (
        f"{title}, {start:%H:%M}–{end:%H:%M} UTC, in {unit}. " + "; ".join(described) + "."
        if values
        else f"{title}: no data between {start:%H:%M} and {end:%H:%M} UTC."
    )
    return chart
