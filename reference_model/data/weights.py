"""Class weights for an imbalanced label set (DeepFashion's largest class is ~100x its smallest)."""

from __future__ import annotations

from collections import Counter

CLASS_WEIGHT_MODES = ("none", "balanced", "sqrt")


def class_weights(
    labels: list[int] | tuple[int, ...], num_classes: int, mode: str
) -> dict[int, float] | None:
    """`balanced`: n / (k * n_c) as scikit-learn defines it; `sqrt`: its square root, a milder
    correction that does not let a class with a handful of images dominate the loss."""
    if mode == "none":
        return None
    if mode not in CLASS_WEIGHT_MODES:
        raise ValueError(f"unknown class weight mode {mode!r}")
    counts = Counter(labels)
    n, present = len(labels), len(counts)
    out = {}
    for c in range(num_classes):
        if counts.get(c, 0) == 0:
            out[c] = 0.0  # no examples: the weight is never used; 0 keeps the dict complete
            continue
        w = n / (present * counts[c])
        out[c] = w**0.5 if mode == "sqrt" else w
    return out
