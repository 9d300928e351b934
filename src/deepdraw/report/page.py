"""Page structure (sections, parts, figures, tables) and the HTML rendering."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd


@dataclass
class Figure:
    caption: str
    alt: str
    data: str  # base64
    mime: str = "image/png"

    @classmethod
    def from_file(cls, path: str | Path, caption: str, alt: str) -> "Figure":
        path = Path(path)
        mime = "image/gif" if path.suffix.lower() == ".gif" else "image/png"
        return cls(caption=caption, alt=alt, data=base64.b64encode(path.read_bytes()).decode(), mime=mime)


@dataclass
class Table:
    columns: list[str]
    rows: list[list[tuple[str, bool]]]  # (cell text, is text: left-aligned) per cell
    caption: str


@dataclass
class Part:
    title: str = ""
    text: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)


@dataclass
class Section:
    id: str
    title: str
    intro: list[str] = field(default_factory=list)
    parts: list[Part] = field(default_factory=list)


def html_table(frame: pd.DataFrame, caption: str, text_columns: tuple[str, ...] = ()) -> Table:
    """A readable table: numbers to 3 significant digits, missing values as an en dash.

    Columns in ``text_columns`` or holding any non-numeric text are left-aligned.
    """
    def fmt(value) -> str:
        if value is None or value is pd.NA:
            return "–"
        if isinstance(value, (bool, np.bool_)):
            return "yes" if value else "no"
        if isinstance(value, (float, np.floating)):
            return "–" if np.isnan(value) else f"{value:.3g}"
        return str(value)

    cells = [[fmt(v) for v in row] for row in frame.itertuples(index=False, name=None)]
    numeric = re.compile(r"[-+–\d.e ±%]*")
    text = [c in text_columns or any(not numeric.fullmatch(row[k]) for row in cells)
            for k, c in enumerate(frame.columns)]
    rows = [[(value, text[k]) for k, value in enumerate(row)] for row in cells]
    return Table(columns=[str(c) for c in frame.columns], rows=rows, caption=caption)



def render_html(sections: list[Section], title: str, subtitle: str) -> str:
    """Render the report template (package data ``deepdraw/templates/report.html.j2``)."""
    env = jinja2.Environment(loader=jinja2.PackageLoader("deepdraw", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]),
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env.get_template("report.html.j2").render(title=title, subtitle=subtitle, sections=sections)

