"""The JSON contract (docs/json.md): `Report.to_dict()` serialized."""

from __future__ import annotations

from cnncost.limits import dumps_json
from cnncost.report import Report


def render_json(report: Report) -> str:
    return dumps_json(report.to_dict(), indent=2)  # RFC 8259: never NaN/Infinity
