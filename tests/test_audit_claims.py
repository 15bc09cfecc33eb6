"""A claims file is a side file the user names: one schema (`cnncost.audit._claim`) checks it
(issue 17, item 5). Random bytes, random TOML tables, long or deeply nested formulas and huge
numbers give verdicts or one line, never a traceback, and in bounded time."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnncost.audit import MAX_CLAIM_DIGITS, MAX_FORMULA_CHARS, QUANTITIES, audit, evaluate_formula
from cnncost.errors import CnnCostError

ROOT = Path(__file__).resolve().parent.parent
SEED = str(ROOT / "examples" / "models" / "seed_cnn.keras")
CNNCOST = shutil.which("cnncost")


def _toml(value) -> str:
    """A TOML literal for a JSON-like value (inline tables and arrays)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value != value:
            return "nan"
        return {float("inf"): "inf", float("-inf"): "-inf"}.get(value, repr(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"


_formulas = st.one_of(
    st.text(alphabet="0123456789*+-() x,×", max_size=40),
    st.sampled_from(
        [
            "2*" * 3000 + "1",  # a chain too long for Python's recursive parser
            "(" * 300 + "1" + ")" * 300,
            "9" * 5000,  # over int()'s digit limit
            "*".join(["9" * 39] * 20),  # a product of huge factors
            "2 ** 999999",
            "__import__('os')",
        ]
    ),
)
_values = st.recursive(  # TOML values (TOML has no null)
    st.booleans() | st.integers(-(10**50), 10**50) | st.floats() | st.text(max_size=6) | _formulas,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
_claims = st.fixed_dictionaries(
    {
        "layer": st.sampled_from(["conv2d", "total", "dense", "nope"]) | _values,
        "quantity": st.sampled_from(QUANTITIES) | _values,
        "value": st.integers(0, 10**9) | _values,
    },
    optional={"formula": _formulas | _values, "source": _values},
)


def _audit_text(tmp_path_factory, text: bytes) -> None:
    path = tmp_path_factory.mktemp("claims") / "claims.toml"
    path.write_bytes(text)
    started = time.perf_counter()
    try:
        result = audit(SEED, path)
    except CnnCostError as exc:
        assert "\n" not in str(exc)
    else:
        json.dumps(result.to_dict(), allow_nan=False)
    assert time.perf_counter() - started < 5


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    header=st.dictionaries(st.sampled_from(["model", "input_shape", "other"]), _values, max_size=2),
    claims=st.lists(_claims | _values, max_size=3),
)
def test_any_claims_table_gives_verdicts_or_one_line(tmp_path_factory, header, claims):
    text = "".join(f"{k} = {_toml(v)}\n" for k, v in header.items()) + f"claim = {_toml(claims)}\n"
    _audit_text(tmp_path_factory, text.encode("utf-8", "surrogatepass"))


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(content=st.binary(max_size=100))
def test_random_bytes_as_a_claims_file(tmp_path_factory, content):
    _audit_text(tmp_path_factory, content)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=_formulas | st.text(max_size=60))
def test_any_formula_is_a_whole_number_or_one_line(text):
    try:
        value = evaluate_formula(text)
    except CnnCostError as exc:
        assert "\n" not in str(exc)
    else:
        assert isinstance(value, int) and len(text) <= MAX_FORMULA_CHARS


def test_a_long_product_is_evaluated_without_recursion():
    assert evaluate_formula(" * ".join(["2"] * 100)) == 2**100  # 100 factors: the count cap
    assert evaluate_formula("*".join(["1"] * 500)) == 1  # 999 characters, 500 factors
    with pytest.raises(CnnCostError, match="cap of 2\\*\\*100"):
        evaluate_formula(" * ".join(["2"] * 101))  # one past the cap (docs/limits.md)


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"quantity": "macs", "value": 10**MAX_CLAIM_DIGITS}, "not a valid macs"),
        ({"quantity": "macs", "value": float("inf")}, "not a valid macs"),
        ({"quantity": "macs", "value": 1, "formula": "1" * (MAX_FORMULA_CHARS + 1)}, "longer"),
        ({"quantity": "macs", "value": 1, "source": ["a"]}, "source must be a string"),
        ({"quantity": ["macs"], "value": 1}, "quantity must be one of"),
    ],
)
def test_schema_errors_name_the_claim(tmp_path, entry, message):
    path = tmp_path / "claims.toml"
    path.write_text(f"claim = [{_toml(entry)}]\n")
    with pytest.raises(CnnCostError, match=message):
        audit(SEED, path)


def test_cli_a_binary_claims_file_is_one_line(tmp_path):
    path = tmp_path / "claims.toml"
    path.write_bytes(b"\xce\xd2\x00\xff")
    command = [CNNCOST] if CNNCOST else [sys.executable, "-m", "cnncost"]
    result = subprocess.run(
        [*command, "audit", SEED, str(path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2 and result.stderr.startswith("cnncost: error: "), result.stderr
    assert len(result.stderr.splitlines()) == 1 and "not UTF-8" in result.stderr
