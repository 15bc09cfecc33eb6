"""MultiHeadAttention: shapes and params equal Keras's own."""

from __future__ import annotations

import pytest

from cnncost.analysis import analyze


@pytest.mark.parametrize(
    "heads, key_dim, value_dim, output_shape, use_bias, tq, tk",
    [(2, 4, None, None, True, 5, 7), (3, 2, 5, 6, False, 4, 4), (1, 8, 3, None, True, 1, 9)],
)
def test_attention_matches_keras(heads, key_dim, value_dim, output_shape, use_bias, tq, tk):
    import keras

    query, value = keras.Input((tq, 6)), keras.Input((tk, 10))
    layer = keras.layers.MultiHeadAttention(
        heads, key_dim, value_dim=value_dim, output_shape=output_shape, use_bias=use_bias
    )
    output = layer(query, value)
    report = analyze(keras.Model([query, value], output))
    row = next(r for r in report.layers if r.type == "MultiHeadAttention")
    assert row.status == "exact"
    assert tuple(row.output_shapes[0]) == tuple(output.shape)
    assert row.params == layer.count_params()
    vd = value_dim or key_dim
    out_dim = output_shape or 6
    assert row.macs == (
        tq * 6 * heads * key_dim
        + tk * 10 * heads * key_dim
        + tk * 10 * heads * vd
        + heads * tq * tk * (key_dim + vd)
        + tq * heads * vd * out_dim
    )
