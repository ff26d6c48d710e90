"""The page itself: a Jinja2 template (``templates/report.html.j2``) with its stylesheet and
script included inline, HTML-escaped by the engine (autoescape on). Data for the script is
embedded with Jinja's ``tojson``, which escapes ``<``, ``>``, ``&`` and ``'`` so that no text
from a model's reply can end a ``<script>`` block."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import jinja2


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("videotemp_o3.report", "templates"),
                              autoescape=True, undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True)


def render_page(**context: Any) -> str:
    """The whole page; ``context`` is what ``report.html.j2`` names (see
    :func:`videotemp_o3.report.build.build_report`)."""
    return environment().get_template("report.html.j2").render(**context)
