"""The JSON contract (docs/json.md): `Report.to_dict()` serialized."""

from __future__ import annotations

import json

from cnncost.report import Report


def render_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2)
