"""A Markdown table (for docs and pull requests), numbers in the chosen units."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cnncost.diagnostics import for_people
from cnncost.render.table import HEADERS, TEXT_COLUMNS, cell_text, footer_lines, title
from cnncost.render.view import View


def render_markdown(data: Mapping[str, Any], view: View, units: str = "raw") -> str:
    lines = [f"**{title(data).splitlines()[0]}**  ", title(data).splitlines()[1], ""]
    lines.append("| " + " | ".join(HEADERS.get(c, c) for c in view.columns) + " |")
    lines.append("|" + "|".join("---" if c in TEXT_COLUMNS else "---:" for c in view.columns) + "|")
    for row in view.rows:
        cells = [cell_text(c, row.get(c), units).replace("|", "\\|") for c in view.columns]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines += footer_lines(data, view)
    lines += [f"- warning: {w}" for w in for_people(data["warnings"])]
    return "\n".join(lines) + "\n"
