"""A Markdown table (for docs and pull requests), numbers in the chosen units."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cnncost.diagnostics import for_people
from cnncost.render.escape import markdown
from cnncost.render.table import HEADERS, TEXT_COLUMNS, cell_text, footer_lines, title_lines
from cnncost.render.view import View


def render_markdown(data: Mapping[str, Any], view: View, units: str = "raw") -> str:
    # every text the model controls goes through `markdown` (cnncost/render/escape.py)
    heading, settings = (markdown(line) for line in title_lines(data))
    lines = [f"**{heading}**  ", settings, ""]
    lines.append("| " + " | ".join(HEADERS.get(c, c) for c in view.columns) + " |")
    lines.append("|" + "|".join("---" if c in TEXT_COLUMNS else "---:" for c in view.columns) + "|")
    for row in view.rows:
        cells = [markdown(cell_text(c, row.get(c), units)) for c in view.columns]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines += [markdown(line) for line in footer_lines(data, view)]
    lines += [f"- warning: {markdown(w)}" for w in for_people(data["warnings"])]
    return "\n".join(lines) + "\n"
