"""Small inline SVG charts: the console works offline and without scripts, so charts are drawn on the server."""

from __future__ import annotations

from html import escape

import numpy as np


def histogram(values: np.ndarray, bins: int = 20, width: int = 520, height: int = 140, label: str = "") -> str:
    """Bars of how many values fall in each of ``bins`` equal slices of [0, 1] (probabilities)."""
    counts, edges = np.histogram(np.clip(values, 0, 1), bins=bins, range=(0.0, 1.0))
    top = max(int(counts.max()) if len(counts) else 0, 1)
    bar = width / bins
    parts = [f'<svg role="img" aria-label="{escape(label)}" viewBox="0 0 {width} {height + 18}" width="{width}" '
             f'height="{height + 18}" xmlns="http://www.w3.org/2000/svg">']  # fmt: skip
    for i, count in enumerate(counts):
        h = height * int(count) / top
        parts.append(
            f'<rect x="{i * bar + 1:.1f}" y="{height - h:.1f}" width="{bar - 2:.1f}" height="{h:.1f}" fill="#2f80ed">'
            f"<title>{edges[i]:.2f}–{edges[i + 1]:.2f}: {int(count):,}</title></rect>"
        )
    for x in (0.0, 0.5, 1.0):
        parts.append(f'<text x="{min(max(x * width, 8), width - 8):.0f}" y="{height + 14}" font-size="11" '
                     f'text-anchor="middle" fill="#627d98">{x:.1f}</text>')  # fmt: skip
    parts.append("</svg>")
    return "".join(parts)


def line(points: list[tuple[str, float]], width: int = 520, height: int = 120, label: str = "") -> str:
    """A line through (label, value in [0, 1]) points, in order: a customer's probability month by month."""
    if not points:
        return ""
    n = len(points)
    step = width / max(n - 1, 1)
    xy = [
        (i * step if n > 1 else width / 2, height - height * min(max(v, 0.0), 1.0)) for i, (_, v) in enumerate(points)
    ]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    parts = [f'<svg role="img" aria-label="{escape(label)}" viewBox="-6 -6 {width + 12} {height + 26}" '
             f'width="{width + 12}" height="{height + 26}" xmlns="http://www.w3.org/2000/svg">',
             f'<polyline points="{path}" fill="none" stroke="#2f80ed" stroke-width="2"/>']  # fmt: skip
    for (name, value), (x, y) in zip(points, xy, strict=True):
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#243b53"><title>{escape(name)}: {value:.3f}'
                     "</title></circle>")  # fmt: skip
    parts.append(f'<text x="0" y="{height + 16}" font-size="11" fill="#627d98">{escape(points[0][0])}</text>')
    parts.append(f'<text x="{width}" y="{height + 16}" font-size="11" text-anchor="end" fill="#627d98">'
                 f"{escape(points[-1][0])}</text></svg>")  # fmt: skip
    return "".join(parts)
