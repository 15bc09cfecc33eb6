"""A device profile is a side file the user names (`--device x.json`, `$CNNCOST_DEVICES_DIR`):
one schema checks every field (issue 17, item 5). Random bytes and random JSON values in every
field give a profile with the documented types or a one-line error, never a traceback."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnncost.devices import DeviceProfile, KindFactors, load_device, profile_from_dict
from cnncost.errors import CnnCostError

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "examples" / "models" / "seed_cnn.keras"
CNNCOST = shutil.which("cnncost")
VALID = {
    "name": "box",
    "peak_flops": {"float32": 1e12},
    "bandwidth": 1e11,
    "overhead_s": 1e-6,
    "call_overhead_s": 1e-5,
    "train_call_overhead_s": None,
    "description": "a box",
    "source": "calibrated",
    "measured": {"engine": "numpy"},
    "efficiency": {"matmul": {"efficiency": 0.5, "overhead_s": 1e-6}},
    "spread": {"peak_flops.float32": 0.03, "bandwidth": 0.1},
    "noisy": False,
}

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats()
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _well_typed(profile: DeviceProfile) -> None:
    """What the roofline relies on: positive finite peaks and bandwidth, finite overheads."""
    assert isinstance(profile.name, str) and isinstance(profile.description, str)
    assert isinstance(profile.source, str) and isinstance(profile.measured, dict)
    numbers = [*profile.peak_flops.values(), profile.bandwidth]
    assert profile.peak_flops and all(isinstance(v, float) and 0 < v < math.inf for v in numbers)
    for value in (profile.overhead_s, profile.call_overhead_s, profile.train_call_s):
        assert isinstance(value, float) and 0 <= value < math.inf
    assert isinstance(profile.noisy, bool)
    assert all(isinstance(v, float) and 0 <= v < math.inf for v in profile.spread.values())
    for factors in profile.efficiency.values():
        assert isinstance(factors, KindFactors)
        assert 0 < factors.efficiency < math.inf and 0 < factors.backward_efficiency < math.inf


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(field=st.sampled_from(sorted(VALID)), value=_json)
def test_any_value_in_any_field_is_a_profile_or_one_line(field, value):
    data = {**VALID, field: value}
    try:
        profile = profile_from_dict(data, "box.json")
    except CnnCostError as exc:
        assert "\n" not in str(exc) and field.split("_")[0] in str(exc)
    else:
        _well_typed(profile)


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(kind=st.text(max_size=8) | st.sampled_from(["matmul", "pooling"]), entry=_json)
def test_any_efficiency_entry_is_factors_or_one_line(kind, entry):
    try:
        profile = profile_from_dict({**VALID, "efficiency": {kind: entry}}, "box.json")
    except CnnCostError as exc:
        assert "\n" not in str(exc)
    else:
        _well_typed(profile)


@pytest.mark.parametrize(
    "field, value",
    [
        ("peak_flops", {"float32": float("nan")}),
        ("peak_flops", {"float32": float("inf")}),
        ("peak_flops", {"float32": 10**400}),  # no float holds it
        ("bandwidth", "fast"),
        ("overhead_s", [1]),
        ("name", ["box"]),
        ("description", 5),
        ("source", {"a": 1}),
        ("measured", 5),
        ("measured", [["a", 1]]),
        ("train_call_overhead_s", -1),
        ("spread", [0.1]),
        ("spread", {"bandwidth": -0.1}),
        ("spread", {"bandwidth": float("nan")}),
        ("spread", {"bandwidth": True}),
        ("noisy", "yes"),
        ("noisy", 1),
    ],
)
def test_wrong_types_and_ranges_are_named(field, value):
    with pytest.raises(CnnCostError, match=field):
        profile_from_dict({**VALID, field: value}, "box.json")


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(content=st.binary(max_size=200))
def test_random_bytes_as_a_profile_file(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("profile") / "box.json"
    path.write_bytes(content)
    try:
        _well_typed(load_device(str(path)))
    except CnnCostError as exc:
        assert "\n" not in str(exc)


@pytest.mark.parametrize(
    "content",
    [b"\xff\xfe{}", b"[" * 100_000, b'{"bandwidth": 1' + b"0" * 5000 + b"}", b"{}"],
    ids=["binary", "deep", "long-int", "empty"],
)
def test_cli_a_hostile_profile_is_one_line(tmp_path, content):
    path = tmp_path / "box.json"
    path.write_bytes(content)
    command = [CNNCOST] if CNNCOST else [sys.executable, "-m", "cnncost"]
    result = subprocess.run(
        [*command, "report", str(SEED), "--device", str(path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2 and result.stderr.startswith("cnncost: error: "), result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_a_devices_dir_that_is_a_file_finds_no_profile(tmp_path, monkeypatch):
    afile = tmp_path / "devices"
    afile.write_text("not a folder")
    monkeypatch.setenv("CNNCOST_DEVICES_DIR", str(afile))
    with pytest.raises(CnnCostError, match="unknown device 'box'"):
        load_device("box")
    assert load_device("h200").name == "h200"  # the built-in table still works
    assert os.environ["CNNCOST_DEVICES_DIR"] == str(afile)


def test_the_valid_profile_round_trips():
    profile = profile_from_dict(VALID, "box.json")
    _well_typed(profile)
    assert profile_from_dict(json.loads(json.dumps(profile.to_dict())), "x.json") == profile
