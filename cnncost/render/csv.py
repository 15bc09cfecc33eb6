"""CSV: one row per view row, exact values (shapes and receptive fields as JSON text)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from cnncost.render.view import View


def _cell(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return "" if value is None else value


def render_csv(view: View) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(view.columns)
    for row in view.rows:
        writer.writerow([_cell(row.get(c)) for c in view.columns])
    return out.getvalue()
