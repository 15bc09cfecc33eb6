"""`ops.map(f, xs)` inside a traced layer: rows `map/element`, f's calls on one element, and
`map/stack`; f's cost counts once per element. Checked against Keras's shapes and against the
same computation written without a map (batched ops), whose rules are checked against Keras and
TensorFlow's profiler elsewhere."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

keras = pytest.importorskip("keras")
from keras import layers, ops  # noqa: E402

import cnncost  # noqa: E402


class Gram(layers.Layer):
    """Per sample, the Gram matrix of its rows, by ops.map (D-FINE's gather_batch style) or
    batched; `scale` adds a weighted sum after it."""

    def __init__(self, mapped, **kwargs):
        super().__init__(**kwargs)
        self.mapped = mapped

    def call(self, x):
        if self.mapped:
            return ops.map(lambda e: ops.sigmoid(ops.matmul(e, ops.transpose(e))), x)
        return ops.sigmoid(ops.matmul(x, ops.transpose(x, (0, 2, 1))))


class Gather(layers.Layer):
    """keras-hub D-FINE's `ops.map(gather_batch, (data, indices))`."""

    def call(self, data, indices):
        return ops.map(lambda e: ops.take(e[0], e[1], axis=0), (data, indices))


class OverConstant(layers.Layer):
    """A map over a stored constant's leading axis (5 elements), added to the input."""

    def build(self, input_shape):
        self.table = ops.ones((5, input_shape[-1]))

    def call(self, x):
        return x + ops.sum(ops.map(lambda e: ops.exp(e), self.table), axis=0)


def _model(layer, n, d):
    inputs = keras.Input((n, d))
    return keras.Model(inputs, layer(inputs))


def _check_gram(n, d, batch):
    mapped, batched = _model(Gram(True, name="g"), n, d), _model(Gram(False, name="g"), n, d)
    ours = cnncost.analyze(mapped, batch=batch)
    reference = cnncost.analyze(batched, batch=batch)
    assert ours.complete and all(row.status == "exact" for row in ours.layers)
    assert ours.outputs[0].shape == tuple(mapped.output.shape) == (None, n, n)
    kinds = {row.type for row in ours.layers if row.name.startswith("g/map")}
    assert {"TracedElement", "TracedStack", "Matmul", "Sigmoid"} <= kinds
    for key in ("macs", "flops"):
        assert ours.totals[key] == reference.totals[key], key
    assert ours.totals["macs"] == batch * n * n * d


def test_map_over_the_batch_costs_what_the_batched_ops_cost():
    _check_gram(4, 3, 2)


@pytest.mark.slow
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 6), st.integers(1, 5), st.integers(1, 4))
def test_map_costs_elements_times_one_element(n, d, batch):
    _check_gram(n, d, batch)


def test_dfine_gather_map_is_exact_data_movement():
    data, indices = keras.Input((9, 4)), keras.Input((3,), dtype="int32")
    model = keras.Model([data, indices], Gather(name="gather")(data, indices))
    report = cnncost.analyze(model)
    assert report.complete and report.outputs[0].shape == tuple(model.output.shape) == (None, 3, 4)
    assert report.totals["macs"] == 0 and report.totals["flops"] == 0


def test_map_over_a_constant_counts_each_element_once_per_call():
    model = _model(OverConstant(name="c"), 2, 3)
    report = cnncost.analyze(model, batch=4)
    assert report.complete and report.outputs[0].shape == tuple(model.output.shape)
    rows = {row.type: row for row in report.layers}
    # exp on each of the 5 elements of 3 values, once per call whatever the batch size
    exp_cost = cnncost.analyze(keras.Model(i := keras.Input((3,)), ops.exp(i)), batch=1).totals[
        "flops"
    ]
    assert rows["Exp"].extra["flops"] == 5 * exp_cost


def test_a_function_the_trace_cannot_follow_keeps_the_map_one_row():
    """f calls a TensorFlow function the table does not map: Keras builds the map (its spec is
    computed on TensorFlow tensors), the trace cannot follow f, so the map stays one row."""
    tf = pytest.importorskip("tensorflow")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow functions need its backend")

    class CumulativeMap(layers.Layer):
        def call(self, x):
            return ops.map(lambda e: tf.math.cumsum(e, axis=0), x)

    inputs = keras.Input((3, 2))
    model = keras.Model(inputs, CumulativeMap(name="cum")(inputs))
    report = cnncost.analyze(model)
    (row,) = [row for row in report.layers if row.type == "Map"]
    assert row.status == "unsupported" and row.macs is None
    assert not [r for r in report.layers if r.type in ("TracedElement", "TracedStack")]
    assert not report.complete
