"""HTML pages of the platform (model report, drift check, policy comparison): Jinja2 templates, one shared look.

The pages are read by a retention manager as much as by a data scientist, so
they share a layout (``templates/base.html``), print numbers the same way (the
``num``, ``pct`` and ``money`` filters: counts as integers, no ``2000.0`` or
``None``) and are written like every other output: whole or not at all,
owner-only (0600), Evidently's pages included.
"""

from __future__ import annotations

import base64
import io
import math
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from churn.io import write_text

_ENV = Environment(
    loader=PackageLoader("churn", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def num(value: Any, digits: int = 3) -> str:
    """Integers (and floats that are whole) with thousands separators, other floats to ``digits`` decimals."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return f"{int(value):,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def pct(value: Any, digits: int = 1) -> str:
    return "n/a" if value is None else f"{float(value):.{digits}%}"


def money(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):,.0f}"


_ENV.filters.update(num=num, pct=pct, money=money)


def png(fig: Any) -> str:
    """A matplotlib figure as a base64 PNG for an ``<img src="data:...">``: pages stay single files."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def render(template: str, **context: Any) -> str:
    return _ENV.get_template(template).render(**context)


def write_page(template: str, path: Path, **context: Any) -> Path:
    """Render ``template`` and write it to ``path`` atomically (owner-only, as every output)."""
    write_text(render(template, **context), path)
    return path
