"""cnncost/render/escape.py: one escaping function per output format, over arbitrary Unicode.

Each function is checked against the reader of its format, not against itself: the terminal text
is decoded by an independent decoder of the escapes; Markdown is rendered by markdown-it-py
(CommonMark + GFM tables, what rich itself uses); CSV is read back by the csv module; plot labels
are judged by matplotlib's own mathtext test; LaTeX is tokenised. Properties for every string,
surrogates and control characters included: it never raises, the result encodes as UTF-8, holds
no character that acts on a terminal, and reads back as the original (one-to-one).
"""

from __future__ import annotations

import csv
import html
import io
import re
import unicodedata

from hypothesis import example, given, settings
from hypothesis import strategies as st

from cnncost.render import escape

# What a hostile model file can put in a name: any code point (lone surrogates too), weighted
# toward the characters and sequences that each format treats specially.
HOSTILE_PIECES = [
    "\x1b]0;title\x07",  # OSC: sets the terminal title
    "\x1b[31m",  # CSI colour
    "\x9b31m",  # C1 CSI
    "\x07",
    "\x00",
    "\x7f",
    "\r",
    "\n",
    "\t",
    "\u2028",
    "\u202e",  # right-to-left override
    "\U000e0041",  # tag character
    "\ud800",  # lone surrogate
    "\\",
    "\\n",
    "\\x1b",
    "[bold red]",
    "[/]",
    ":warning:",
    "=",
    "+",
    "-",
    "@",
    "'",
    '"',
    ",",
    "|",
    "`",
    "``",
    "*",
    "_",
    " * ",
    "<img src=x>",
    "&amp;",
    "[a](http://x)",
    "$",
    "$x^$",
    "{",
    "}",
    "%",
    "#",
    "^",
    "~",
    " ",
    "a",
    "conv2d_1",
]
ANY_CHAR = st.characters(exclude_categories=())  # surrogates included
NAMES = st.lists(st.one_of(ANY_CHAR, st.sampled_from(HOSTILE_PIECES)), max_size=12).map("".join)


def decode(text: str) -> str:
    """The inverse of `escape.visible` (written from its docstring, not from its code)."""
    named = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\"}
    out, i = [], 0
    while i < len(text):
        char = text[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        kind = text[i + 1]
        if kind in named:
            out.append(named[kind])
            i += 2
            continue
        digits = {"x": 2, "u": 4, "U": 8}[kind]
        out.append(chr(int(text[i + 2 : i + 2 + digits], 16)))
        i += 2 + digits
    return "".join(out)


def acts_on_a_terminal(char: str) -> bool:
    """C0/C1 controls, DEL, surrogates, line/paragraph separators, and the invisible format
    characters (bidi controls, tags, zero-width spaces) but the two joiners."""
    category = unicodedata.category(char)
    return category in ("Cc", "Cs", "Zl", "Zp") or (category == "Cf" and char not in "\u200c\u200d")


def assert_safe(text: str) -> None:
    text.encode("utf-8")  # no lone surrogate left
    bad = [c for c in text if acts_on_a_terminal(c)]
    assert not bad, bad


@given(NAMES)
def test_text_is_printable_and_one_to_one(name):
    shown = escape.text(name)
    assert_safe(shown)
    assert decode(shown) == name


@given(NAMES.filter(lambda s: "\\" not in s and not any(acts_on_a_terminal(c) for c in s)))
def test_text_leaves_printable_names_as_they_are(name):
    assert escape.text(name) == name


@given(NAMES)
def test_one_line_is_one_printable_line(name):
    line = escape.one_line(f"cannot read {name!s}: bad")
    assert_safe(line)
    assert len(f"{line}\n".splitlines()) == 1


def test_rich_shows_markup_and_emoji_codes_as_written():
    from rich.console import Console
    from rich.text import Text

    console = Console(file=io.StringIO(), width=200, color_system="truecolor", record=True)
    name = "[bold red]x[/] [/] :warning: \x1b[31mred"
    console.print(Text(escape.text(name)))
    assert console.export_text().rstrip("\n") == escape.text(name)


# -- Markdown ----------------------------------------------------------------------------------


def _markdown_cells(row: str) -> list[str]:
    from markdown_it import MarkdownIt

    rendered = MarkdownIt("commonmark").enable("table").render(f"| a | b |\n|---|---|\n{row}\n")
    body = rendered.split("<tbody>", 1)[1]
    return re.findall(r"<td>(.*?)</td>", body, flags=re.S)


def with_examples(values):
    """hypothesis's @example for each of `values`."""

    def decorate(test):
        for value in values:
            test = example(value)(test)
        return test

    return decorate


MARKDOWN_SYNTAX = [
    "*a*",
    "**b**",
    "_c_",
    "a*b*c",
    "`code`",
    "[x](http://y)",
    "![i](http://y)",
    "<b>bold</b>",
    "~~s~~",
    "&lt;",
    "a\\|b",
    "\\",
    "$x$",
]


@settings(max_examples=200, deadline=None)
@given(NAMES)
@with_examples(MARKDOWN_SYNTAX)
def test_markdown_cell_renders_as_the_terminal_text(name):
    cell = escape.markdown(name)
    assert_safe(cell)
    cells = _markdown_cells(f"| {cell} | end |")
    assert len(cells) == 2 and cells[1] == "end"  # the name did not add or split a cell
    assert "<" not in cells[0]  # no element at all: no emphasis, link, image, code or raw HTML
    assert html.unescape(cells[0]).strip() == escape.text(name).strip()


@settings(max_examples=200, deadline=None)
@given(NAMES)
@with_examples([*MARKDOWN_SYNTAX, "`", "a``b", " a ", "` a `", "|"])
def test_markdown_code_span_holds_the_terminal_text(name):
    from markdown_it import MarkdownIt

    shown = escape.text(name)
    span = escape.markdown_code(name, in_table=False)
    assert_safe(span)
    rendered = MarkdownIt("commonmark").render(f"x {span} y\n")
    codes = re.findall(r"<code>(.*?)</code>", rendered, flags=re.S)
    if not shown:
        assert span == "" and not codes
        return
    assert len(codes) == 1 and html.unescape(codes[0]) == shown
    cells = _markdown_cells(f"| {escape.markdown_code(name)} | end |")
    assert len(cells) == 2 and cells[1] == "end"
    assert html.unescape(re.sub("</?code>", "", cells[0])).strip() == shown.strip()


def test_markdown_keeps_ordinary_names_readable():
    assert escape.markdown("conv2_block1_out") == "conv2_block1_out"
    assert escape.markdown("2 * 3") == "2 * 3"
    assert escape.markdown("_private_") == r"\_private\_"
    assert escape.markdown("a|b") == r"a\|b"


# -- CSV -------------------------------------------------------------------------------------------

FORMULA = ("=", "+", "-", "@", "\t", "\r")


def csv_decode(cell: str) -> str:
    if cell.startswith("'") and cell[1:].lstrip(" ").startswith((*FORMULA, "'")):
        cell = cell[1:]
    return decode(cell)


@given(NAMES)
def test_csv_cell_is_one_line_never_a_formula_and_reads_back(name):
    cell = escape.csv_cell(name)
    assert_safe(cell)
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow([cell, "end"])
    assert out.getvalue().count("\n") == 1
    (row,) = list(csv.reader(io.StringIO(out.getvalue())))
    assert row == [cell, "end"]
    assert not row[0].lstrip(" ").startswith(FORMULA)
    assert csv_decode(row[0]) == name


def test_csv_neutralises_formulas():
    assert escape.csv_cell('=HYPERLINK("http://x","y")') == '\'=HYPERLINK("http://x","y")'
    assert escape.csv_cell("@SUM(A1)") == "'@SUM(A1)"
    assert escape.csv_cell("\t=1") == "\\t=1"  # the tab is escaped: no formula either way
    assert escape.csv_cell("conv2d") == "conv2d"


# -- plot labels and LaTeX -------------------------------------------------------------------------


@settings(deadline=None)  # the first example imports matplotlib
@given(NAMES)
def test_plot_label_is_never_mathtext(name):
    from matplotlib import cbook

    label = escape.plot_label(name)
    assert_safe(label)
    assert not cbook.is_math_text(label)
    assert decode(label.replace("\\$", "$")) == name


_LATEX_TOKEN = re.compile(r"\\textbackslash\{\}|\\\^\{\}|\\~\{\}|\\[{}$%&#_]|.", re.S)
_LATEX_BACK = {r"\textbackslash{}": "\\", r"\^{}": "^", r"\~{}": "~"}


@given(NAMES)
def test_latex_has_no_command_group_or_comment_from_the_name(name):
    out = escape.latex(name)
    assert_safe(out)
    tokens = _LATEX_TOKEN.findall(out)
    assert "".join(tokens) == out
    plain = [t for t in tokens if len(t) == 1]
    assert not any(t in "\\{}$%&#_^~" for t in plain)
    back = "".join(_LATEX_BACK.get(t, t[-1] if len(t) == 2 else t) for t in tokens)
    assert decode(back) == name


# -- JSON ------------------------------------------------------------------------------------------


@given(NAMES)
def test_json_keeps_any_name_exactly(name):
    import json

    from cnncost.render.json import render_json

    class Fake:
        def to_dict(self):
            return {"model": {"name": name}}

    text = render_json(Fake())
    text.encode("ascii")  # \uXXXX escapes: no control character, no surrogate on the wire
    assert json.loads(text)["model"]["name"] == name
