"""MultiHeadAttention: shapes and params equal Keras's own."""

from __future__ import annotations

import pytest

from cnncost.analysis import analyze


@pytest.mark.parametrize(
    "heads, key_dim, value_dim, output_shape, use_bias, tq, tk, use_gate",
    [
        (2, 4, None, None, True, 5, 7, False),
        (3, 2, 5, 6, False, 4, 4, False),
        (1, 8, 3, None, True, 1, 9, False),
        (2, 4, 3, None, True, 5, 7, True),
        (3, 2, None, 6, False, 4, 4, True),
    ],
)
def test_attention_matches_keras(
    heads, key_dim, value_dim, output_shape, use_bias, tq, tk, use_gate
):
    import keras

    query, value = keras.Input((tq, 6)), keras.Input((tk, 10))
    layer = keras.layers.MultiHeadAttention(
        heads,
        key_dim,
        value_dim=value_dim,
        output_shape=output_shape,
        use_bias=use_bias,
        use_gate=use_gate,
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
        + (tq * 6 * heads * vd if use_gate else 0)  # the gate projection of the query
    )
