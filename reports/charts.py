"""Server-rendered SVG line charts: no script, no CDN; patterns and labels, not colour alone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 28


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    dash: str  # stroke-dasharray: each series is told apart by its pattern, not only its colour
    marker: str  # the legend's symbol, also drawn at the last point


SERIES = (
    Series("total", "Total", "", "■"),
    Series("assigned", "Assigned", "8 4", "●"),
    Series("available", "Available", "2 3", "▲"),
)


@dataclass(frozen=True)
class Line:
    series: Series
    points: str  # "x,y x,y …" for <polyline>
    last_x: float
    last_y: float
    last_value: int


@dataclass(frozen=True)
class Column:
    x: float
    width: float
    title: str  # the <title> tooltip: the day and every number


@dataclass(frozen=True)
class Chart:
    caption: str
    days: int
    rows: list[tuple[date, list[int]]]
    series: tuple[Series, ...]
    lines: list[Line]
    columns: list[Column]
    y_ticks: list[tuple[float, int]]
    x_labels: list[tuple[float, str]]
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def hover_svg(self) -> SafeString:
        """One transparent column per day carrying its numbers as a <title> tooltip."""
        # Built here, not in a template loop: a year is 365 columns and a loop costs 100s of ms.
        return mark_safe(  # noqa: S308 - every value is escaped or a number
            "".join(
                f'<rect class="report-chart-hover" x="{c.x}" y="0" width="{c.width}" '
                f'height="{self.height}"><title>{escape(c.title)}</title></rect>'
                for c in self.columns
            )
        )

    @property
    def table_rows(self) -> SafeString:
        """The numbers beside the chart, one table row per day."""
        return mark_safe(  # noqa: S308 - dates and numbers only
            "\n".join(
                f'<tr><th scope="row">{day.isoformat()}</th>'
                + "".join(f"<td>{int(v)}</td>" for v in values)
                + "</tr>"
                for day, values in self.rows
            )
        )

    @property
    def empty(self) -> bool:
        return not self.rows

    @property
    def summary(self) -> str:
        if not self.rows:
            return f"{self.caption}: no history recorded yet."
        day, values = self.rows[-1]
        numbers = ", ".join(
            f"{s.label.lower()} {v:,}" for s, v in zip(self.series, values, strict=True)
        )
        return f"{self.caption}, last {self.days} days. On {day:%-d %b %Y}: {numbers}."


def line_chart(
    *, caption: str, snapshots: list, days: int, series: tuple[Series, ...] = SERIES
) -> Chart:
    """A chart of snapshots (objects with .day and one attribute per series key), oldest first."""
    rows = [(snap.day, [int(getattr(snap, s.key)) for s in series]) for snap in snapshots]
    if not rows:
        return Chart(caption, days, [], series, [], [], [], [])
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top_value = max(1, *(max(values) for _, values in rows))
    count = len(rows)
    step = plot_w / max(1, count - 1)

    def x_at(index: int) -> float:
        # One day of history sits in the middle rather than on the axis.
        return round(LEFT + (plot_w / 2 if count == 1 else index * step), 1)

    def y_at(value: int) -> float:
        return round(TOP + plot_h - value / top_value * plot_h, 1)

    lines = []
    for position, one in enumerate(series):
        values = [values[position] for _, values in rows]
        points = " ".join(f"{x_at(i)},{y_at(v)}" for i, v in enumerate(values))
        lines.append(Line(one, points, x_at(count - 1), y_at(values[-1]), values[-1]))
    width = plot_w if count == 1 else step
    columns = [
        Column(
            x=round(max(LEFT, x_at(i) - width / 2), 1),
            width=round(width, 1),
            title=f"{day:%-d %b %Y}: "
            + ", ".join(f"{s.label.lower()} {v:,}" for s, v in zip(series, values, strict=True)),
        )
        for i, (day, values) in enumerate(rows)
    ]
    ticks = [(y_at(value), value) for value in sorted({0, top_value // 2, top_value})]
    first, last = rows[0][0], rows[-1][0]
    labels = [(x_at(0), f"{first:%-d %b %Y}")]
    if count > 1:
        labels.append((x_at(count - 1), f"{last:%-d %b %Y}"))
    return Chart(caption, days, rows, series, lines, columns, ticks, labels)
