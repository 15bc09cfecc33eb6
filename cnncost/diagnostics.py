"""Warnings by kind: a stable name for each kind of warning, and the text people read.

The passes write warnings as one-line strings (`Report.warnings`); this module gives each one a
stable `kind` (the JSON's `warning_details`, `--hide-warnings KIND,...`) by matching it against
one table, `KINDS`, and turns a run of warnings that say the same thing about many rows into one
explained line (`for_people`). Pure functions: no printing, no keras.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction

from cnncost.errors import CnnCostError


@dataclass(frozen=True)
class WarningKind:
    name: str  # stable: JSON `warning_details[].kind`, `--hide-warnings`
    pattern: re.Pattern[str]  # matched at the start of the message; group `layer` names the row
    meaning: str  # one line for docs/commands/report.md


def _kind(name: str, pattern: str, meaning: str) -> WarningKind:
    return WarningKind(name, re.compile(pattern, re.DOTALL), meaning)


# First match wins. Every message a pass writes must match one row (tests/test_diagnostics.py).
KINDS: tuple[WarningKind, ...] = (
    _kind(
        "unsupported-layer",
        r"(?P<layer>.+?): unsupported layer class ",
        "a layer class with no rule (or a Lambda, whose code is never run): its params and cost "
        "are not counted",
    ),
    _kind(
        "shape-unknown",
        r"(?P<layer>.+?): output shape unknown",
        "a row's output shape is unknown because a layer before it is unsupported",
    ),
    _kind(
        "input-shape-differs",
        r"(?P<layer>.+?): input shape .* differs from the .* recorded in the file",
        "`--input-shape` differs from the shape Keras recorded in the file",
    ),
    _kind(
        "misaligned-merge",
        r"(?P<layer>.+?): misaligned merge on axis ",
        "a merge (Add, Concatenate, ...) whose inputs look at input regions centred on different "
        "pixels; its receptive field is the union (docs/receptive-field.md)",
    ),
    _kind(
        "rf-unknown",
        r"(?P<layer>.+?): receptive field of .* unknown: ",
        "a receptive field that cannot be determined (the reason follows)",
    ),
    _kind(
        "flops-unknown",
        r"(?P<layer>.+?): no FLOP cost known for ",
        "a per-element cost with no entry in the FLOP convention: the row's FLOPs are not counted",
    ),
    _kind(
        "lora-not-counted",
        r"(?P<layer>.+?): LoRA adds ",
        "LoRA's per-call update of the kernel is not in the row's MACs/FLOPs",
    ),
    _kind(
        "dtype-unknown",
        r"(?P<layer>.+?): unknown dtype policy ",
        "a layer's dtype policy is not one cnncost knows: its bytes are unknown",
    ),
    _kind(
        "tf-profiler",
        r"(?:(?P<layer>.+?): )?tf-profiler convention: ",
        "`--flops-convention tf-profiler`: where TensorFlow's profiler does not count the work done",
    ),
    _kind(
        "cost-not-modelled",
        r"\d+ layers' cost is not counted: ",
        "keras.ops rows whose work depends on the algorithm the backend runs (sort, top-k, ...)",
    ),
    _kind(
        "input-size-unknown",
        r"\d+ layers' cost depends on an unknown input size",
        "the input size is unknown: pass `--input-shape`",
    ),
    _kind(
        "lower-bound",
        r"totals are lower bounds ",
        "totals that leave rows out (shown `≥`; JSON `left_out`)",
    ),
    _kind(
        "noisy-device",
        r"device profile .* is flagged noisy ",
        "`--device`: a profile stored with `calibrate --accept-noisy` (its rounds spread too wide)",
    ),
    _kind(
        "roofline",
        r"roofline: ",
        "`--device`: layers with no predicted time",
    ),
)
OTHER = "other"
KIND_NAMES: tuple[str, ...] = tuple(k.name for k in KINDS)


def classify(message: str) -> tuple[str, str | None]:
    """(kind, row name or None) of one warning message."""
    for kind in KINDS:
        match = kind.pattern.match(message)
        if match:
            return kind.name, match.groupdict().get("layer")
    return OTHER, None


def warning_kind(message: str) -> str:
    return classify(message)[0]


def warning_details(warnings: Iterable[str]) -> list[dict[str, str | None]]:
    """The JSON's `warning_details`: one object per warning, in order."""
    details = []
    for message in warnings:
        kind, layer = classify(message)
        details.append({"kind": kind, "layer": layer, "message": message})
    return details


def parse_kinds(text: str | None) -> frozenset[str]:
    """`--hide-warnings misaligned-merge,lower-bound` -> the kinds; an unknown name is an error."""
    if not text:
        return frozenset()
    names = [n.strip() for n in text.split(",") if n.strip()]
    valid = (*KIND_NAMES, OTHER, "all")
    unknown = [n for n in names if n not in valid]
    if unknown:
        raise CnnCostError(
            f"unknown warning kind {unknown[0]!r}; kinds: {', '.join(valid)} "
            "(docs/commands/report.md)"
        )
    return frozenset((*KIND_NAMES, OTHER) if "all" in names else names)


def without_kinds(warnings: Iterable[str], hidden: frozenset[str]) -> tuple[str, ...]:
    return tuple(w for w in warnings if warning_kind(w) not in hidden)


# -- what a person reads -----------------------------------------------------------------------

_MISALIGNED = re.compile(
    r"(?P<layer>.+?): misaligned merge on axis \d+ of .*?: unit-0 centres (?P<centres>.*) "
    r"\(jump [^)]*\); the merged unit 0 spans input pixels",
    re.DOTALL,
)
_CENTRE = re.compile(r"(?P<name>.+?): (?P<value>-?\d+(?:\.\d+)?(?:/\d+)?)(?:, |$)")


def _centres(message: str) -> list[tuple[str, Fraction]]:
    match = _MISALIGNED.match(message)
    if not match:
        return []
    return [(m["name"], Fraction(m["value"])) for m in _CENTRE.finditer(match["centres"])]


def _number(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{float(value):g}"


def misaligned_summary(messages: Sequence[str]) -> str:
    """One explained line for every misaligned-merge warning (one per merge and axis)."""
    layers = list(dict.fromkeys(classify(m)[1] for m in messages))
    spreads = []  # (distance between the inputs' centres in input pixels, layer, centres)
    for message in messages:
        centres = _centres(message)
        if centres:
            values = [c for _, c in centres]
            spreads.append((max(values) - min(values), classify(message)[1], centres))
    shown = ", ".join(layers[:6]) + (f" and {len(layers) - 6} more" if len(layers) > 6 else "")
    how_far = ""
    if spreads:
        spread, layer, centres = max(spreads, key=lambda s: s[0])
        first, *rest = centres
        listed = ", ".join(
            [f"{first[0]} centred on input pixel {_number(first[1])}"]
            + [f"{name} on {_number(c)}" for name, c in rest]
        )
        how_far = f", up to {_number(spread)} pixels apart (at {layer}, position 0: {listed})"
    merges = "merge ({}) joins inputs" if len(layers) == 1 else "merges ({}) join inputs"
    return (
        f"misaligned-merge: {len(layers)} {merges.format(shown)} whose positions are centred on "
        f"different input pixels{how_far}, as where a skip connection meets an upsampled or "
        "strided path (U-Net, FPN). Each merged position sees both regions, so from there on "
        "the receptive field is their union: off-centre, at least as wide as either input's, "
        "and its size may vary between positions (shown as a range a..b). The numbers are "
        "exact; the model is not wrong and nothing needs fixing. One warning per merge and "
        "axis: --format json; hide: --hide-warnings misaligned-merge"
    )


def for_people(warnings: Sequence[str]) -> list[str]:
    """The warnings as printed in tables: misaligned merges as one explained line (where the
    first of them was), everything else as it is."""
    misaligned = [w for w in warnings if warning_kind(w) == "misaligned-merge"]
    lines: list[str] = []
    for message in warnings:
        if message in misaligned:
            if message == misaligned[0]:
                lines.append(misaligned_summary(misaligned))
        else:
            lines.append(message)
    return lines
