"""A calibration that knows when it is wrong (issue 16, item 2): the spread of repeated rounds,
the refusal of a noisy calibration, figures beyond a datasheet. Stored samples and a scripted
clock only: no timing here."""

from __future__ import annotations

import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnncost.devices import (
    BUILTIN,
    DeviceProfile,
    calibration_problems,
    flagged_noisy,
    noisy_warning,
    timed_rounds,
)
from cnncost.spread import (
    SPREAD_LIMIT,
    beyond_datasheet,
    spread,
    spreads,
    too_wide,
)
from cnncost.spread import calibration_problems as problems_of

# round timings in seconds: from a millisecond (a small matmul) to a few seconds (a large one)
_time = st.floats(min_value=1e-6, max_value=10.0, allow_nan=False)


def test_spread_is_range_over_median_written_out():
    # median 0.11; (0.13 - 0.10) / 0.11
    assert spread([0.10, 0.11, 0.13]) == pytest.approx((0.13 - 0.10) / 0.11)
    # an even count: the median is the mean of the middle two, (0.11 + 0.12) / 2
    assert spread([0.12, 0.10, 0.11, 0.20]) == pytest.approx((0.20 - 0.10) / ((0.11 + 0.12) / 2))
    assert spread([0.5, 0.5]) == 0.0


@pytest.mark.parametrize("samples", [[], [0.1], [0.0, 0.0, 0.0]])
def test_no_spread_without_two_readable_rounds(samples):
    assert spread(samples) is None
    assert spreads({"bandwidth": samples}) == {}


@given(samples=st.lists(_time, min_size=2, max_size=20), scale=st.floats(1e-3, 1e3))
def test_spread_is_a_relative_figure(samples, scale):
    """The same rounds on a machine k times slower have the same spread, and it agrees with
    numpy-free arithmetic on the sorted list."""
    figure = spread(samples)
    assert figure == pytest.approx((max(samples) - min(samples)) / statistics.median(samples))
    assert spread([scale * t for t in samples]) == pytest.approx(figure, rel=1e-9)
    assert figure >= 0


@given(
    typical=_time,
    offsets=st.lists(st.floats(0.0, 0.9 * SPREAD_LIMIT), min_size=2, max_size=20),
)
def test_tight_rounds_pass(typical, offsets):
    """Rounds within 0.9 x the limit of the fastest: (max - min) / median < the limit, since the
    median is at least the fastest round."""
    samples = [typical * (1 + o) for o in offsets]
    figures = spreads({"peak_flops.float32": samples, "bandwidth": samples[::-1]})
    assert too_wide(figures) == []
    assert problems_of(figures, len(samples)) == []


@given(
    typical=_time,
    offsets=st.lists(st.floats(0.0, 0.9 * SPREAD_LIMIT), min_size=2, max_size=20),
    slower=st.floats(2 * SPREAD_LIMIT, 20.0),
    where=st.integers(0, 20),
)
def test_one_round_slowed_beyond_the_limit_is_refused(typical, offsets, slower, where):
    """One round slowed by (1 + slower) >= 1 + 2 x limit of the slowest tight round: its range is
    at least 2 x limit x median (the median is at most the slowest tight round), over the limit."""
    samples = [typical * (1 + o) for o in offsets]
    samples.insert(where % (len(samples) + 1), max(samples) * (1 + slower))
    figures = spreads({"peak_flops.float32": samples, "overhead_s": [typical, typical]})
    assert [q for q, _ in too_wide(figures)] == ["peak_flops.float32"]
    (problem,) = problems_of(figures, len(samples))
    assert problem.startswith("peak_flops.float32 spread ") and "\n" not in problem
    assert f"over {len(samples)} rounds (limit 25%)" in problem


def test_widest_spread_first():
    figures = {"bandwidth": 0.3, "peak_flops.float32": 0.9, "overhead_s": 0.1}
    assert too_wide(figures) == [("peak_flops.float32", 0.9), ("bandwidth", 0.3)]


# -- beyond the hardware ----------------------------------------------------------------------------


def test_beyond_datasheet_peak_and_bandwidth():
    h200 = BUILTIN["h200"]
    # float32 may run as TF32 (494.5 TFLOP/s dense): 100 TFLOP/s float32 is possible
    assert beyond_datasheet({"float32": 100e12}, 4e12, h200.peak_flops, h200.bandwidth) == []
    too_fast = beyond_datasheet(
        {"float32": 600e12, "float16": 900e12}, 5e12, h200.peak_flops, h200.bandwidth
    )
    assert len(too_fast) == 2
    assert too_fast[0].startswith("float32 peak 600 TFLOP/s is above the datasheet's 494")
    assert too_fast[1].startswith("bandwidth 5000 GB/s is above the datasheet's 4800")
    # V100 has no TF32: float32 is held to its 15.7 TFLOP/s
    v100 = BUILTIN["v100"]
    assert beyond_datasheet({"float32": 20e12}, 1e11, v100.peak_flops, v100.bandwidth)
    # a dtype the datasheet has no figure for is not judged
    assert beyond_datasheet({"float64": 1e15}, 1e11, v100.peak_flops, v100.bandwidth) == []


def _profile(name="box", spread=None, peaks=None, bandwidth=1e10, rounds=5):
    return DeviceProfile(
        name, peaks or {"float32": 1e11}, bandwidth, 1e-7,
        measured={"rounds": rounds}, spread=spread or {},
    )  # fmt: skip


def test_profile_problems_join_spread_and_datasheet():
    assert calibration_problems(_profile(spread={"bandwidth": 0.05})) == []
    wide = calibration_problems(_profile(spread={"bandwidth": 0.4}))
    assert wide == ["bandwidth spread 40% over 5 rounds (limit 25%)"]
    # named after a datasheet GPU and faster than it: refused whatever the spread
    fast = calibration_problems(_profile("H100", peaks={"float16": 2e15}, bandwidth=1e12))
    assert len(fast) == 1 and "float16 peak 2e+03 TFLOP/s" in fast[0]
    # the same figures under another name are not judged against any datasheet
    assert calibration_problems(_profile("mybox", peaks={"float16": 2e15})) == []


def test_flagged_profile_keeps_its_reasons_and_warns():
    profile = _profile(spread={"bandwidth": 0.4, "overhead_s": 0.1})
    flagged = flagged_noisy(profile, calibration_problems(profile))
    assert flagged.noisy and not profile.noisy
    assert flagged.measured["noisy_because"] == ["bandwidth spread 40% over 5 rounds (limit 25%)"]
    warning = noisy_warning(flagged)
    assert "'box' is flagged noisy" in warning and "widest spread 40% (bandwidth)" in warning


# -- the rounds, with a scripted clock ----------------------------------------------------------------


class ScriptedClock:
    """A clock whose successive (start, end) readings differ by the given durations."""

    def __init__(self, durations):
        self.readings = []
        now = 0.0
        for duration in durations:
            self.readings += [now, now + duration]
            now += duration + 1.0
        self.readings.reverse()

    def __call__(self):
        return self.readings.pop()


def test_rounds_are_interleaved_and_tiny_ops_count_their_median():
    calls = []
    probes = {
        "peak_flops.float32": (lambda: calls.append("matmul"), 1),
        "bandwidth": (lambda: calls.append("copy"), 1),
        "overhead_s": (lambda: calls.append("tiny"), 3),
    }
    # per round: matmul, copy, then 3 tiny calls (median counted)
    durations = [0.10, 0.50, 1e-6, 9e-6, 2e-6] + [0.12, 0.55, 3e-6, 3e-6, 1e-3]
    times = timed_rounds(probes, 2, clock=ScriptedClock(durations))
    # one warm-up call each, then the rounds in turn
    assert calls == ["matmul", "copy", "tiny"] + 2 * ["matmul", "copy", "tiny", "tiny", "tiny"]
    assert times["peak_flops.float32"] == pytest.approx([0.10, 0.12])
    assert times["bandwidth"] == pytest.approx([0.50, 0.55])
    assert times["overhead_s"] == pytest.approx([2e-6, 3e-6])  # medians of each round's 3
    assert spreads(times)["bandwidth"] == pytest.approx((0.55 - 0.50) / ((0.50 + 0.55) / 2))
