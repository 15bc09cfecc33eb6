"""How far repeated measurements disagree, and when a calibration is too noisy to store.

`cnncost calibrate` times every probe (the matmul of each dtype, the copy, the tiny ops) in R
interleaved rounds: each round runs each probe once, so a burst of load from another job falls
on several probes in one round instead of on all repeats of one probe. Per measured quantity:

    spread = (max - min) / median          over the R round timings

0.10: the slowest round took 10% of a typical round longer than the fastest. The range, not the
interquartile range: with 5-10 rounds the quartiles are one sample from the ends, and a single
round slowed by another job is exactly what should show. One round has no spread.

A calibration is refused (`calibration_problems` not empty) when
- a quantity's spread exceeds SPREAD_LIMIT: the machine was not quiet while it was measured, so
  the best-of figure it stored may be off by about as much; or
- a measured peak or bandwidth exceeds the datasheet's, where the profile is named after a
  built-in datasheet device (`--name h200`): faster than the hardware can be means a wrong clock.

Pure functions on numbers: no timing here (the timing is `devices.timed_rounds`).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence

# The widest spread a stored calibration may have. Quiet machines give a few percent on the
# matmul and the copy (docs/commands/calibrate.md gives figures); 25% means some round ran a
# quarter slower than typical: something else was running.
SPREAD_LIMIT = 0.25

# float32 matmuls may run on TF32 tensor cores (TensorFlow's default on Ampere and later), so a
# float32 peak is checked against the fastest datasheet peak it may legitimately reach.
MAY_RUN_AS = {"float32": ("float32", "tfloat32")}


def spread(samples: Sequence[float]) -> float | None:
    """(max - min) / median of repeated timings; None for fewer than 2 (nothing to compare)."""
    if len(samples) < 2:
        return None
    middle = statistics.median(samples)
    if middle <= 0:
        return None  # a clock that reads 0: no relative figure
    return (max(samples) - min(samples)) / middle


def spreads(rounds: Mapping[str, Sequence[float]]) -> dict[str, float]:
    """{quantity: spread} of each quantity's round timings (quantities with < 2 rounds left out)."""
    result = {}
    for quantity, samples in rounds.items():
        value = spread(samples)
        if value is not None:
            result[quantity] = value
    return result


def too_wide(figures: Mapping[str, float], limit: float = SPREAD_LIMIT) -> list[tuple[str, float]]:
    """The quantities whose spread exceeds `limit`, widest first."""
    wide = [(quantity, value) for quantity, value in figures.items() if value > limit]
    return sorted(wide, key=lambda item: -item[1])


def beyond_datasheet(
    peaks: Mapping[str, float],
    bandwidth: float,
    datasheet_peaks: Mapping[str, float],
    datasheet_bandwidth: float,
) -> list[str]:
    """What a calibration measured faster than the hardware's datasheet allows (one line each)."""
    problems = []
    for dtype, measured in peaks.items():
        ceiling = max(
            (datasheet_peaks[k] for k in MAY_RUN_AS.get(dtype, (dtype,)) if k in datasheet_peaks),
            default=None,
        )
        if ceiling is not None and measured > ceiling:
            problems.append(
                f"{dtype} peak {measured / 1e12:.3g} TFLOP/s is above the datasheet's "
                f"{ceiling / 1e12:.3g}"
            )
    if bandwidth > datasheet_bandwidth:
        problems.append(
            f"bandwidth {bandwidth / 1e9:.4g} GB/s is above the datasheet's "
            f"{datasheet_bandwidth / 1e9:.4g}"
        )
    return problems


def calibration_problems(
    figures: Mapping[str, float],
    rounds: int,
    beyond: Sequence[str] = (),
    limit: float = SPREAD_LIMIT,
) -> list[str]:
    """Why a calibration should not be stored as it is (one line each; empty: it may be)."""
    problems = [
        f"{quantity} spread {value:.0%} over {rounds} rounds (limit {limit:.0%})"
        for quantity, value in too_wide(figures, limit)
    ]
    return problems + list(beyond)


def summary(figures: Mapping[str, float]) -> str:
    """`peak_flops.float32 3%, bandwidth 5%` (for the calibrate and validate lines)."""
    return ", ".join(f"{quantity} {value:.0%}" for quantity, value in figures.items())
