"""Process-value plots without a browser: a min/max envelope per bucket, scaled into a box.

:func:`envelope_points` is the geometry both renderers share (SVG for HTML, reportlab
drawings for the PDF): the upper and the lower edge of the envelope as point lists in the
plot's own coordinates (y grows upwards, as in PDF; the SVG flips it).
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from mes_runtime.services.report.record import Series

__all__ = ["Plot", "envelope_points", "svg"]


@dataclass(frozen=True, slots=True)
class Plot:
    """The envelope of one series scaled into ``width`` x ``height`` (y up)."""

    upper: tuple[tuple[float, float], ...]
    lower: tuple[tuple[float, float], ...]
    y_low: float
    y_high: float
    seconds: float


def envelope_points(series: Series, *, width: float, height: float) -> Plot:
    low, high = series.low, series.high
    if high - low < 1e-9:
        low, high = low - 1.0, high + 1.0
    seconds = max((series.t1 - series.t0).total_seconds(), 1e-3)

    def x(t: float) -> float:
        return round(width * min(max(t / seconds, 0.0), 1.0), 2)

    def y(v: float) -> float:
        return round(height * (v - low) / (high - low), 2)

    upper = tuple((x(t), y(hi)) for t, _, hi in series.envelope)
    lower = tuple((x(t), y(lo)) for t, lo, _ in series.envelope)
    return Plot(upper=upper, lower=lower, y_low=low, y_high=high, seconds=seconds)


def svg(series: Series, *, width: int = 640, height: int = 120) -> str:
    """An inline SVG of ``series``: the filled min/max band and its axis labels."""
    pad_left, pad_bottom = 56, 18
    inner_w, inner_h = width - pad_left - 4, height - pad_bottom - 4
    plot = envelope_points(series, width=inner_w, height=inner_h)

    def at(point: tuple[float, float]) -> str:
        return f"{point[0] + pad_left:.1f},{inner_h - point[1] + 4:.1f}"

    band = " ".join(at(p) for p in (*plot.upper, *reversed(plot.lower)))
    line = " ".join(at(p) for p in plot.upper)
    label = escape(f"{series.tag} [{series.unit}]")
    minutes = plot.seconds / 60
    return (
        f'<svg class="plot" role="img" aria-label="{label}" xmlns="http://www.w3.org/2000/svg" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
        f'<rect x="{pad_left}" y="4" width="{inner_w}" height="{inner_h}" fill="#fafafa" '
        'stroke="#bbb"/>'
        f'<polygon points="{band}" fill="#9ec3e6" stroke="none"/>'
        f'<polyline points="{line}" fill="none" stroke="#1f5f9e" stroke-width="1"/>'
        f'<text x="2" y="12" font-size="10">{plot.y_high:.4g}</text>'
        f'<text x="2" y="{inner_h + 4}" font-size="10">{plot.y_low:.4g}</text>'
        f'<text x="{pad_left}" y="{height - 4}" font-size="10">0</text>'
        f'<text x="{width - 4}" y="{height - 4}" font-size="10" text-anchor="end">'
        f"{minutes:.1f} min</text>"
        f'<text x="{pad_left + 6}" y="16" font-size="11">{label}</text>'
        "</svg>"
    )
