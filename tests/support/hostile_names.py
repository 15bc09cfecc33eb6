"""Model files whose model and layer names are hostile text (for the output-escaping tests).

The seed CNN's `.keras` (examples/models/seed_cnn.keras) with its names replaced in config.json:
written as a zip directly, no Keras needed.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "examples" / "models" / "seed_cnn.keras"

# one per class of hostile output (issue 17 item 3); the seed has 8 layers after its input
MODEL_NAME = "m\x1b]0;pwned\x07\x1b[2J\nsecond line"
LAYER_NAMES = (
    "[bold red]x[/]",  # rich markup
    "[/]",  # rich: closing tag with nothing to close (MarkupError)
    '=HYPERLINK("http://evil.example","click")',  # spreadsheet formula
    "a\nb|c\r",  # line breaks and a Markdown cell separator
    "\ud800s",  # lone surrogate
    "$\\nosuch$",  # matplotlib mathtext with an unknown command
    "\x9b31m\u202eevil\U000e0041",  # C1 CSI, right-to-left override, tag character
    "<img src=x onerror=alert(1)>*em*`code`",  # HTML and Markdown
)


def seed_with_names(path: Path, model_name: str, layer_names: tuple[str, ...]) -> Path:
    """The seed CNN with `model_name` and its layers (after the input) renamed in order."""
    with zipfile.ZipFile(SEED) as z:
        config = json.loads(z.read("config.json"))
        metadata = z.read("metadata.json")
    config["config"]["name"] = model_name
    for layer, name in zip(config["config"]["layers"][1:], layer_names, strict=False):
        layer["config"]["name"] = name
    with zipfile.ZipFile(path, "w") as out:
        out.writestr("config.json", json.dumps(config))  # ASCII: \uXXXX escapes, surrogates too
        out.writestr("metadata.json", metadata)
    return path
