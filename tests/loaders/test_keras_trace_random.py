"""Random subclassed models (nested composite layers, residual adds, concatenations, shared
layers, keras.ops calls), traced and checked against Keras: every row's output shape against an
eager forward pass, every row's params against the layer's `count_params()`, totals against
the model's."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

keras = pytest.importorskip("keras")
from keras import layers, ops  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from test_keras_subclass import _assert_traced_parity  # noqa: E402

from cnncost import analyze  # noqa: E402

STAGE = st.fixed_dictionaries(
    {
        "filters": st.integers(1, 6),
        "kernel": st.sampled_from([1, 3, 5]),
        "strides": st.sampled_from([1, 2]),
        "depth": st.integers(1, 3),
        "merge": st.sampled_from(["add", "concat", "none"]),
        "shared": st.booleans(),
    }
)
SPEC = st.fixed_dictionaries(
    {
        "size": st.integers(8, 20),
        "channels": st.integers(1, 4),
        "stages": st.lists(STAGE, min_size=1, max_size=3),
        "head": st.sampled_from(["gap", "ops_mean", "flatten"]),
        "classes": st.integers(1, 5),
    }
)


class Unit(layers.Layer):
    def __init__(self, filters, kernel, strides=1, **kwargs):
        super().__init__(**kwargs)
        self.conv = layers.Conv2D(filters, kernel, strides=strides, padding="same")
        self.norm = layers.BatchNormalization()

    def call(self, x, training=None):
        return ops.maximum(self.norm(self.conv(x), training=training), 0.0)


class Stage(layers.Layer):
    def __init__(self, spec, **kwargs):
        super().__init__(**kwargs)
        self.spec = spec
        self.down = Unit(spec["filters"], spec["kernel"], spec["strides"])
        self.units = [Unit(spec["filters"], spec["kernel"]) for _ in range(spec["depth"])]
        self.shared = layers.Conv2D(spec["filters"], 1) if spec["shared"] else None

    def call(self, x, training=None):
        x = self.down(x, training=training)
        y = x
        for unit in self.units:
            y = unit(y, training=training)
        if self.spec["merge"] == "add":
            y = x + y
        elif self.spec["merge"] == "concat":
            y = ops.concatenate([x, y], axis=-1)
        if self.shared is not None:
            y = self.shared(self.shared(y) if self.spec["merge"] != "concat" else y)
        return y


class RandomNet(keras.Model):
    def __init__(self, spec, **kwargs):
        super().__init__(**kwargs)
        self.spec = spec
        self.stages = [Stage(s) for s in spec["stages"]]
        self.pool = layers.GlobalAveragePooling2D() if spec["head"] == "gap" else None
        self.flatten = layers.Flatten() if spec["head"] == "flatten" else None
        self.out = layers.Dense(spec["classes"])

    def call(self, x, training=None):
        for stage in self.stages:
            x = stage(x, training=training)
        if self.pool is not None:
            x = self.pool(x)
        elif self.flatten is not None:
            x = self.flatten(x)
        else:
            x = ops.mean(x, axis=[1, 2])
        return self.out(x)


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(SPEC, st.booleans())
def test_random_subclassed_models_match_keras(spec, built):
    model = RandomNet(spec)
    shape = (spec["size"], spec["size"], spec["channels"])
    batch = np.random.default_rng(0).normal(size=(2, *shape)).astype("float32")
    if built:
        model(batch)
        report = analyze(model)
    else:
        report = analyze(model, input_shape=shape)
    _assert_traced_parity(report, model, batch)
