"""Zoo tier: every vision backbone of keras-hub (small random configs), live and from file.

As for kimm: every row equals Keras's, totals equal Keras's per-layer params summed, complete;
the `.keras` file is analysed with `trust_model_code=True` (a keras-hub backbone is a Functional
subclass). Custom layers are traced (their variables are rows of their own). The backbones of
`BLOCKED_BY` are not complete: each is checked to be incomplete by exactly the classes listed
(with the reason), with every value cnncost gives equal to Keras's. A class that gets a rule
makes its models fail here until they leave the table.
"""

from __future__ import annotations

import pytest

keras = pytest.importorskip("keras")

from zoo.catalog import KERAS_HUB_MODELS, build_keras_hub  # noqa: E402
from zoo.harness import check_live_and_file  # noqa: E402

# Backbone -> the classes that keep it from being complete (with the reason); empty since
# DepthAnything (TensorFlow calls in its layers), D-FINE (ops.map, TensorFlow calls, top_k) and
# SAM (an unknown prompt count) became complete.
BLOCKED_BY: dict[str, set[str]] = {}

# Sizes a backbone leaves unknown besides the batch, given as a user would (`--input-shape`):
# SAM's prompt encoder computes with the number of prompts (3 points with their labels, 1 box,
# 1 mask of 4x the 8x8 image embedding); it is traced at those sizes.
INPUT_SHAPES = {
    "SAMBackbone": {
        "images": (16, 16, 3), "points": (3, 2), "labels": (3,), "boxes": (1, 2, 2),
        "masks": (1, 32, 32, 1),
    },
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(KERAS_HUB_MODELS))
def test_keras_hub_backbone(tmp_path, name):
    keras.backend.clear_session()
    model = build_keras_hub(name)
    assert type(model).__name__ == KERAS_HUB_MODELS[name][0]
    blocked_by = frozenset(BLOCKED_BY.get(name, ()))
    check_live_and_file(
        model,
        tmp_path,
        name,
        trust_model_code=True,
        blocked_by=blocked_by,
        input_shape=INPUT_SHAPES.get(name),
    )
