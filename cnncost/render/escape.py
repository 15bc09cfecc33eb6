"""Escaping of text the input controls (layer, model, input and device names, paths, messages).

A model file is untrusted input: its names may hold terminal control sequences (ESC, OSC, BEL,
C1 CSI), line breaks, bidirectional overrides, invisible tag characters, lone surrogates, rich
markup (`[bold]`, `[/]`), Markdown/HTML, spreadsheet formulas (`=HYPERLINK(..)`), matplotlib
mathtext (`$..$`) or LaTeX. Every renderer passes each such string through the one function for
its output format, at the point where it writes the text:

| output | function | what it does |
|---|---|---|
| terminal / plain text (rich tables, `diff`, `suggest`, `audit`, `formula`) | `text` | `visible` below; rich is given `rich.text.Text`, never markup |
| the one-line error on stderr | `one_line` | `visible`, backslashes left as they are (messages quote values with `repr`) |
| Markdown (table cells and lines) | `markdown` | `visible`, then Markdown/HTML punctuation backslash-escaped |
| CSV cells | `csv_cell` | `visible`, then a `'` before a leading `= + - @` (formula injection) |
| plot labels (matplotlib) | `plot_label` | `visible`, then `$` as `\\$` (no mathtext) |
| LaTeX (`formula --format latex`) | `latex` | `visible`, then LaTeX's ten special characters escaped |
| JSON | none | `json.dumps` writes ASCII with `\\uXXXX` escapes: exact names, lone surrogates included |

`visible(s)`: every character that is not safe to print becomes a Python-style escape: controls
(Unicode category Cc: C0, DEL, C1) as `\\n`, `\\r`, `\\t` or `\\xNN`; lone surrogates (Cs), line and
paragraph separators (Zl, Zp) and format characters (Cf: bidirectional controls, tag characters,
zero-width spaces, ...; not the joiners U+200C/U+200D) as `\\uXXXX` / `\\UXXXXXXXX`. A backslash
is doubled, so the mapping is one-to-one: two different names never print alike, and a name that
is already printable and has no backslash prints unchanged.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

# Format characters (Cf) are invisible and some act on the display: bidirectional embeddings,
# overrides and isolates reorder a line ("Trojan Source", CVE-2021-42574), tag characters spell
# hidden ASCII, interlinear annotations hide text. All are escaped but the two joiners, which
# emoji sequences and several scripts need and which only join their neighbours.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp", "Cf"})
_JOINERS = frozenset("\u200c\u200d")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def _unsafe(char: str) -> bool:
    return unicodedata.category(char) in _UNSAFE_CATEGORIES and char not in _JOINERS


def _escape_char(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def visible(value: object, backslash: bool = True) -> str:
    """`value` as text with every unsafe character escaped (see the module docstring); with
    `backslash=False` backslashes are kept single (readable, no longer one-to-one)."""
    text = value if isinstance(value, str) else str(value)
    return "".join(
        _escape_char(c) if (c == "\\" and backslash) or (c != "\\" and _unsafe(c)) else c
        for c in text
    )


def text(value: object) -> str:
    """Terminal and plain-text output. Give rich the result as `rich.text.Text(...)` (or print it
    with a console whose markup and emoji are off): rich markup in a name is then shown, not
    applied, and `[/]` cannot raise."""
    return visible(value)


def one_line(value: object) -> str:
    """An error or warning message that must stay one line on a terminal."""
    return visible(value, backslash=False)


# CommonMark lets any ASCII punctuation be backslash-escaped; these are the ones that can start
# inline syntax (emphasis, code, links, images, raw HTML, entities, tables, GFM strikethrough,
# math). `_` is escaped only where it can open or close emphasis (not between two alphanumerics),
# so `conv2_block1_out` stays readable in the Markdown source, and `*` only where it is not between
# two spaces (` * ` can neither open nor close emphasis), so `2 * 3` stays as written.
_MARKDOWN_SPECIAL = re.compile(r"[\\`\[\]<>|~&$!#]|(?<![^\W_])_|_(?![^\W_])|(?<! )\*|\*(?! )")


def markdown(value: object) -> str:
    """A Markdown table cell or list item: one line, no markup, no HTML, `|` kept in the cell."""
    return _MARKDOWN_SPECIAL.sub(lambda m: "\\" + m.group(0), visible(value))


def markdown_code(value: object, in_table: bool = True) -> str:
    """A Markdown code span (`` `name` ``): one line, fenced with more backticks than the text
    holds (CommonMark), `|` escaped inside a table row (GFM reads it before the code span)."""
    body = visible(value)
    if in_table:
        body = body.replace("|", "\\|")
    runs = [len(run) for run in re.findall("`+", body)]
    fence = "`" * (max(runs, default=0) + 1)
    if not body:
        return ""
    # CommonMark strips one space from each end when both ends have one (and the text is not all
    # spaces): pad then, and where the text starts or ends with a backtick
    spaced = body.startswith(" ") and body.endswith(" ") and body.strip(" ")
    pad = " " if body.startswith("`") or body.endswith("`") or spaced else ""
    return f"{fence}{pad}{body}{pad}{fence}"


def strings(data: Any, escape: Callable[[str], str]) -> Any:
    """`data` (dicts, lists, scalars; the JSON of a result) with `escape` applied to every string
    value (not to keys): for renderers that print many fields of it."""
    if isinstance(data, str):
        return escape(data)
    if isinstance(data, Mapping):
        return {key: strings(value, escape) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [strings(value, escape) for value in data]
    return data


# OWASP "CSV injection": spreadsheets treat a cell starting with one of these as a formula (tab
# and CR are escaped by `visible` already). A leading `'` is added before them (and before a
# leading `'`, so that the mapping stays one-to-one); spreadsheets hide it and show the text.
_FORMULA_START = ("=", "+", "-", "@", "'")


def csv_cell(value: object) -> str:
    """A CSV cell holding a name: one line, never read as a formula by a spreadsheet."""
    cell = visible(value)
    return "'" + cell if cell.lstrip(" ").startswith(_FORMULA_START) else cell


def plot_label(value: object) -> str:
    """A matplotlib label: no mathtext (an unescaped `$` pair would be parsed, and may raise)."""
    return visible(value).replace("$", "\\$")


_LATEX = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "%": r"\%",
    "&": r"\&",
    "#": r"\#",
    "_": r"\_",
    "^": r"\^{}",
    "~": r"\~{}",
}


def latex(value: object) -> str:
    """Text inside `\\text{...}`: LaTeX's special characters escaped, no commands from a name."""
    return "".join(_LATEX.get(c, c) for c in visible(value))
