"""What a notebook user sees: `print(report)` is the table, `repr` one line, `_repr_html_` the
table as HTML, and `help(cnncost.analyze)` lists every option (issue 15, item 1)."""

from __future__ import annotations

import inspect
from pathlib import Path

import cnncost
from cnncost.analysis import Options

SEED = Path(__file__).parents[1] / "examples" / "models" / "seed_cnn.keras"


def test_print_shows_the_table_and_totals_not_a_dataclass_dump():
    report = cnncost.analyze(SEED)
    text = str(report)
    assert "LayerRow(" not in text and "extra=" not in text
    for row in report.layers:
        assert row.name in text
    assert f"({report.totals['params']:,})" in text  # the summary block's exact params
    assert "\x1b[" not in text  # plain text: no terminal codes
    assert len(text) < 4_000  # the seed's table, not 5,736 characters of fields


def test_repr_is_one_line_with_the_totals():
    report = cnncost.analyze(SEED)
    line = repr(report)
    assert "\n" not in line and len(line) < 200
    assert str(report.totals["params"]) in line and "complete" in line


def test_notebook_html_holds_the_table():
    report = cnncost.analyze(SEED)
    html = report._repr_html_()
    assert html.startswith("<pre")
    for row in report.layers:
        assert row.name in html
    assert "<script" not in html


def test_help_lists_every_option():
    parameters = inspect.signature(cnncost.analyze).parameters
    options = {name for name in Options.__dataclass_fields__}
    assert options <= set(parameters), options - set(parameters)
    doc = cnncost.analyze.__doc__
    assert all(f"{name}:" in doc for name in options)


def test_api_errors_do_not_name_cli_flags():
    import pytest

    from cnncost.errors import CnnCostError

    with pytest.raises(CnnCostError) as caught:
        cnncost.analyze(SEED, dataset_size=10)
    assert "--" not in str(caught.value)
