"""Image augmentation layers, costed as Keras runs them at inference (`training=False`).

Every random augmentation layer of Keras 3 returns its input unchanged when not training
(`transform_images(..., training=False)` returns the images; checked for each class in
tests/layers/test_layers_coverage.py), so at inference it is an identity: its output shape,
no weights, no arithmetic. Training-time augmentation cost is not modelled.

Two are not identities: AutoContrast and ContrastLimitedAdaptiveHistogramEqualization rescale
every image whatever `training` says; their shapes are exact and their FLOPs not modelled
(reported unknown, with a warning). RandomCrop's graph output is (height, width), as Keras's
`compute_output_shape` says and as the layers after it are built; at inference Keras 3.15 in
fact returns its input uncropped, a Keras inconsistency cnncost does not repeat.
"""

from __future__ import annotations

from cnncost.ir import Shape
from cnncost.layers.base import Call, LayerRule, data_format, expect_rank, is_int, set_axes
from cnncost.layers.ops_nn import unmodelled

# Keras 3 random augmentation layers (keras/src/layers/preprocessing/image_preprocessing/):
# identity at inference. (RandomFlip, RandomRotation, RandomZoom, RandomTranslation,
# RandomContrast and RandomBrightness have the same rule in core.INFERENCE_IDENTITY.)
IDENTITY_AT_INFERENCE = (
    "AugMix",
    "CutMix",
    "MixUp",
    "RandAugment",
    "RandomColorDegeneration",
    "RandomColorJitter",
    "RandomElasticTransform",
    "RandomErasing",
    "RandomGaussianBlur",
    "RandomGrayscale",
    "RandomHue",
    "RandomInvert",
    "RandomPerspective",
    "RandomPosterization",
    "RandomSaturation",
    "RandomSharpness",
    "RandomShear",
    "Solarization",
    # bounding-box bookkeeping only: images pass through
    "MaxNumBoundingBoxes",
)


def _random_crop(call: Call) -> tuple[Shape, ...]:
    # (height, width) on the spatial axes, as Keras's compute_output_shape
    shape = expect_rank(call, 4)
    height, width = call.config.get("height"), call.config.get("width")
    if not all(is_int(v) and v > 0 for v in (height, width)):
        raise call.fail(f"height/width must be positive integers, not {height!r}/{width!r}")
    h, w = (1, 2) if data_format(call) == "channels_last" else (2, 3)
    return (set_axes(shape, {h: height, w: width}),)


RULES = {
    **{name: LayerRule() for name in IDENTITY_AT_INFERENCE},
    "RandomCrop": LayerRule(_random_crop, rf="reshape"),
    "AutoContrast": LayerRule(
        rf="reduce", reduced_axes=lambda c: (1, 2), element_counts=unmodelled("auto_contrast")
    ),
    "ContrastLimitedAdaptiveHistogramEqualization": LayerRule(
        rf="reshape", element_counts=unmodelled("clahe")
    ),
}
EXCLUDED = {
    "Equalization": (
        "Keras 3.15 cannot call it on a symbolic tensor (its build reports the output 'part "
        "of a cycle'), so no functional or Sequential model contains it"
    ),
}
