"""Every Operation class of keras.ops numpy/math/linalg/einops has a rule or a documented
exclusion (the classes are enumerated from Keras itself)."""

from __future__ import annotations

import pytest

pytest.importorskip("keras")
from support.coverage import keras_op_classes, uncovered  # noqa: E402

FAMILIES = ("numpy", "math", "linalg", "einops")


@pytest.mark.parametrize("family", FAMILIES)
def test_every_op_class_has_a_rule_or_an_exclusion(family):
    classes = keras_op_classes(family)
    assert classes, f"keras.src.ops.{family} defines no Operation classes?"
    assert uncovered([f"ops.{c}" for c in classes]) == []


def test_exclusions_are_keras_classes_with_a_reason():
    from cnncost.layers import ops_math, ops_numpy

    known = {f"ops.{c}" for family in FAMILIES for c in keras_op_classes(family)}
    for module in (ops_numpy, ops_math):
        for key, reason in module.EXCLUDED.items():
            assert key in known, key
            assert len(reason) > 30, (key, reason)
            assert key not in module.RULES, key


def test_no_class_is_both_ruled_and_excluded_or_ruled_twice():
    from cnncost.layers import _FAMILIES, excluded_classes

    seen: dict[str, str] = {}
    for module in _FAMILIES:
        for key in module.RULES:
            assert key not in seen, (key, seen.get(key), module.__name__)
            seen[key] = module.__name__
    assert set(seen) & set(excluded_classes()) == set()
    from cnncost.layers import ops_numpy

    assert set(ops_numpy.UNARY) & set(ops_numpy.BINARY) == set()


def test_documented_table_lists_every_class():
    """docs/ops.md has one line per class of the four families, marked excluded exactly when
    the class is excluded."""
    from pathlib import Path

    from cnncost.layers import excluded_classes

    text = (Path(__file__).parents[2] / "docs" / "ops.md").read_text()
    lines = {
        line.split("`")[1]: line
        for line in text.splitlines()
        if line.startswith("| `") and line.count("|") == 5  # | class | work | rf | tf |
    }
    wrong = []
    for family in FAMILIES:
        for c in keras_op_classes(family):
            line = lines.get(c)
            if line is None or ("| excluded:" in line) != (f"ops.{c}" in excluded_classes()):
                wrong.append(c)
    assert wrong == []
