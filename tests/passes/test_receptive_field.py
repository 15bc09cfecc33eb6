"""Hand-checkable receptive fields, with the expected values written as arithmetic.

Recurrences (design §4): k_eff = d*(k-1)+1; r' = r + (k_eff-1)*j; start' = start + ((k_eff-1)/2 - p)*j;
j' = j*s; effective_padding = (r-1)/2 - start.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cnncost
from cnncost.passes.receptive_field import (
    AxisMap,
    identity_map,
    same_left_padding,
    transposed_map,
    window_map,
)

SEED = Path(__file__).resolve().parents[2] / "examples" / "models" / "seed_cnn.keras"


def rf_rows(report):
    """Layer name -> its receptive field on the model's only input."""
    (input_name,) = [t.name for t in report.inputs]
    return {row.name: row.extra["receptive_field"][input_name] for row in report.layers}


def test_seed_cnn_per_layer_sequence():
    rows = rf_rows(cnncost.analyze(SEED))
    # (layer, size, jump, start): conv 3x3 valid, then pool 2x2 stride 2, three times.
    r1, j1, s1 = 1 + (3 - 1) * 1, 1, 0 + (1 - 0) * 1
    r2, j2, s2 = r1 + (2 - 1) * j1, j1 * 2, s1 + Fraction(1, 2) * j1
    r3, j3, s3 = r2 + (3 - 1) * j2, j2, s2 + 1 * j2
    r4, j4, s4 = r3 + (2 - 1) * j3, j3 * 2, s3 + Fraction(1, 2) * j3
    r5, j5, s5 = r4 + (3 - 1) * j4, j4, s4 + 1 * j4
    r6, j6, s6 = r5 + (2 - 1) * j5, j5 * 2, s5 + Fraction(1, 2) * j5
    expected = {
        "input_layer": (1, 1, 0),
        "conv2d": (r1, j1, s1),
        "max_pooling2d": (r2, j2, s2),
        "conv2d_1": (r3, j3, s3),
        "max_pooling2d_1": (r4, j4, s4),
        "conv2d_2": (r5, j5, s5),
        "max_pooling2d_2": (r6, j6, s6),
    }
    for name, (size, jump, start) in expected.items():
        rf = rows[name]
        assert rf["size"] == [size, size], name
        assert rf["jump"] == [jump, jump], name
        assert rf["start"] == [float(start)] * 2 or rf["start"] == [int(start)] * 2, name
        assert rf["effective_padding"] == [0, 0], name  # all "valid": (r-1)/2 - start = 0
        assert rf["global"] is False and rf["aligned"] is True
    assert (r6, j6) == (22, 8)  # the seed's last pooling layer (README claims 10, notebook 7)
    assert rows["flatten"]["global"] is True and rows["dense"]["global"] is True
    assert rows["dense"]["size"] == [256, 256]


def test_same_padding_split_is_tensorflows():
    # total = max((ceil(n/s)-1)*s + k_eff - n, 0), left = total // 2
    assert same_left_padding(8, 3, 2) == max((4 - 1) * 2 + 3 - 8, 0) // 2 == 0
    assert same_left_padding(7, 3, 2) == max((4 - 1) * 2 + 3 - 7, 0) // 2 == 1
    assert same_left_padding(224, 7, 2) == max((112 - 1) * 2 + 7 - 224, 0) // 2 == 2
    assert same_left_padding(None, 3, 2) is None  # 0 or 1 depending on n's parity
    assert same_left_padding(None, 1, 2) == 0  # max(1 - 2 + e, 0) // 2 == 0 for e in 0, 1
    assert same_left_padding(None, 5, 1) == (5 - 1) // 2


keras = pytest.importorskip("keras")
from keras import layers  # noqa: E402
from support.keras_reference import write_config_only  # noqa: E402


def analyze_model(model, tmp_path, **kwargs):
    return cnncost.analyze(write_config_only(model, tmp_path / "m.keras"), **kwargs)


def test_unknown_size_same_padding_start_is_unknown_not_guessed(tmp_path):
    inp = keras.Input((None, 1))
    x = layers.Conv1D(1, 3, strides=2, padding="same", name="c")(inp)
    y = layers.Conv1D(1, 1, strides=2, padding="same", name="one")(inp)
    model = keras.Model(inp, [x, y])
    rf = rf_rows(analyze_model(model, tmp_path))
    assert rf["c"]["size"] == [3] and rf["c"]["jump"] == [2]
    assert rf["c"]["start"] == [None] and rf["c"]["effective_padding"] == [None]
    assert rf["one"]["start"] == [0]  # a 1-tap stride-2 window never pads on the left
    for n, left in ((8, max((4 - 1) * 2 + 3 - 8, 0) // 2), (7, max((4 - 1) * 2 + 3 - 7, 0) // 2)):
        exact = rf_rows(analyze_model(model, tmp_path, input_shape=f"{n},1"))["c"]
        assert exact["start"] == [(3 - 1) // 2 - left]
        assert exact["effective_padding"] == [left]


def test_residual_merge_with_unknown_size_stays_aligned(tmp_path):
    inp = keras.Input((None, 1))
    x = layers.Conv1D(1, 3, strides=2, padding="same")(inp)
    y = layers.Conv1D(1, 3, padding="same")(x)
    out = layers.Add(name="add")([x, y])
    rf = rf_rows(analyze_model(keras.Model(inp, out), tmp_path))["add"]
    assert rf["size"] == [3 + (3 - 1) * 2] and rf["aligned"] is True and rf["start"] == [None]


def misaligned_model():
    inp = keras.Input((12, 1))
    a = layers.Conv1D(1, 3, name="a")(inp)  # 10 units, unit i reads [i, i+2]
    b = layers.Cropping1D((4, 0))(inp)  # 8 units, unit i is pixel i+4
    b = layers.ZeroPadding1D((0, 2), name="b")(b)  # 10 units
    return keras.Model(inp, layers.Add(name="add")([a, b]))


def test_misaligned_merge(tmp_path):
    report = analyze_model(misaligned_model(), tmp_path)
    rf = rf_rows(report)
    # union of [i, i+2] and [i+4, i+4]: [i, i+4]; centres 1 and 4 differ.
    assert rf["a"]["start"] == [1] and rf["b"]["start"] == [4]
    assert rf["add"]["size"] == [(0 + 4) - 0 + 1] and rf["add"]["start"] == [(0 + 4) // 2]
    assert rf["add"]["aligned"] is False
    (warning,) = [w for w in report.warnings if "misaligned" in w]
    assert "add" in warning and "0..4" in warning


def test_misaligned_merge_matches_gradient_support():
    from cnncost.verify import empirical_receptive_field

    measured = empirical_receptive_field(misaligned_model(), "add", units=[(3,), (4,)])
    assert measured.axes[0].regions == {3: (3, 7), 4: (4, 8)}


def test_squeeze_excitation_gate_is_global_with_a_local_rf(tmp_path):
    inp = keras.Input((16, 16, 3))
    x = layers.Conv2D(4, 3, name="conv")(inp)
    g = layers.GlobalAveragePooling2D()(x)
    g = layers.Dense(4, activation="sigmoid")(g)
    g = layers.Reshape((1, 1, 4), name="reshape")(g)
    x = layers.Multiply(name="gate")([x, g])
    x = layers.Conv2D(4, 3, name="after")(x)
    rf = rf_rows(analyze_model(keras.Model(inp, x), tmp_path))
    assert rf["gate"]["global"] is True and rf["gate"]["size"] == [16, 16]
    assert rf["gate"]["local"]["size"] == [3, 3]
    assert rf["after"]["global"] is True and rf["after"]["local"]["size"] == [3 + 2, 3 + 2]
    assert rf["reshape"]["global"] is True


def test_upsampling_gives_fractional_jump_and_position_dependent_size(tmp_path):
    inp = keras.Input((8, 1))
    x = layers.UpSampling1D(2, name="up")(inp)
    x = layers.Conv1D(1, 2, name="conv")(x)
    rf = rf_rows(analyze_model(keras.Model(inp, x), tmp_path))
    assert rf["up"]["jump"] == [1 / 2] and rf["up"]["size"] == [1]
    # unit 2q reads up-units 2q, 2q+1 = pixel q (size 1); unit 2q+1 reads pixels q, q+1 (size 2)
    assert rf["conv"]["size_min"] == [1] and rf["conv"]["size_max"] == [2]
    assert rf["conv"]["start"] == [0] and rf["conv"]["jump"] == [0.5]


def test_transposed_conv_same(tmp_path):
    inp = keras.Input((8, 1))
    x = layers.Conv1DTranspose(1, 3, strides=2, padding="same", name="t")(inp)
    rf = rf_rows(analyze_model(keras.Model(inp, x), tmp_path))["t"]
    # left = max(3-2, 0)//2 = 0: input i feeds outputs 2i, 2i+1, 2i+2, so output 2q reads
    # inputs q-1 and q (size 2), output 2q+1 reads q (size 1).
    assert rf["jump"] == [0.5] and rf["size_min"] == [1] and rf["size_max"] == [2]
    assert rf["effective_padding"] == [1]  # unit 0 reads the virtual pixel -1


def test_flatten_reshape_and_non_spatial_inputs(tmp_path):
    image = keras.Input((8, 8, 1), name="image")
    meta = keras.Input((3,), name="meta")
    x = layers.Conv2D(2, 3)(image)
    r = layers.Reshape((36, 2), name="reshape")(x)
    f = layers.Flatten(name="flat")(r)
    out = layers.Concatenate(name="cat")([f, layers.Dense(2, name="dm")(meta)])
    report = analyze_model(keras.Model([image, meta], out), tmp_path)
    rows = {row.name: row.extra["receptive_field"] for row in report.layers}
    assert rows["reshape"]["image"]["exact"] is False and rows["reshape"]["image"]["size"] == [
        None,
        None,
    ]
    assert rows["flat"]["image"]["exact"] is False  # a flatten of an unknown layout
    assert rows["dm"] == {"image": None, "meta": None}
    assert rows["cat"]["meta"] is None


# -- the unit <-> region helpers --------------------------------------------------------------


@st.composite
def axis_maps(draw) -> AxisMap:
    m = identity_map(None)
    for _ in range(draw(st.integers(1, 5))):
        k, s, d = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
        left = draw(st.integers(-1, 3))
        if draw(st.booleans()):
            m = window_map(m, k, s, d, left, None, None, "x")
        else:  # TF runs no transposed conv with both stride and dilation above 1
            m = transposed_map(m, k, s, d if s == 1 else 1, left, None, None)
    return m


@settings(max_examples=200, deadline=None)
@given(axis_maps(), st.integers(-20, 40))
def test_unit_region_round_trip(m, unit):
    region = m.region(unit)
    if region is None:
        return
    assert m.unit_at_centre(m.centre(unit)) is not None
    assert m.centre(m.unit_at_centre(m.centre(unit))) == m.centre(unit)
    for pixel in range(region[0], region[1] + 1):
        covering = m.units_covering(pixel)
        assert unit in covering
        for other in covering:
            low, high = m.region(other)
            assert low <= pixel <= high


def _loop_candidates(m, coordinate):
    """The scan window the helpers used to loop over (a superset of the units that reach
    `coordinate`), kept as the reference."""
    known = [(lo, hi) for lo, hi in zip(m.low, m.high) if lo is not None]
    lowest = min(lo for lo, _ in known)
    spread = max(hi for _, hi in known) - lowest
    guess = ((coordinate - lowest) * m.period) // m.advance
    reach = m.period * (spread // m.advance + 3)
    return range(guess - reach, guess + reach + 1)


@settings(max_examples=200, deadline=None)
@given(axis_maps(), st.integers(-20, 40), st.one_of(st.none(), st.integers(0, 30)))
def test_unit_helpers_equal_the_scan(m, pixel, units):
    if all(lo is None for lo in m.low):
        assert m.units_covering(pixel, units) == () and m.unit_at_centre(pixel) is None
        return
    scan = _loop_candidates(m, pixel)
    expected = tuple(
        u
        for u in scan
        if (units is None or 0 <= u < units)
        and (b := m.region(u)) is not None
        and b[0] <= pixel <= b[1]
    )
    assert m.units_covering(pixel, units) == expected
    for centre in (Fraction(pixel), Fraction(2 * pixel + 1, 2)):
        scan = _loop_candidates(m, centre)
        assert m.unit_at_centre(centre) == next((u for u in scan if m.centre(u) == centre), None)


def test_unit_region_helpers_on_the_seed():
    report = cnncost.analyze(SEED)
    rf = rf_rows(report)["max_pooling2d_2"]
    m = AxisMap(1, rf["jump"][0], (-rf["effective_padding"][0],), (rf["size"][0] - 1,))
    assert m.region(0) == (0, 21) and m.region(29) == (29 * 8, 29 * 8 + 21)
    assert m.centre(1) == Fraction(21, 2) + 8 and m.unit_at_centre(Fraction(21, 2) + 8) == 1
    assert m.units_covering(20) == (0, 1, 2)  # units 0..2 start at 0, 8, 16


# -- the per-phase closed forms against the loops over every tap and every output unit ----------


def _loop_merge(parts):
    parts = [b for b in parts if b is not None]
    if not parts:
        return None, None
    return min(b[0] for b in parts), max(b[1] for b in parts)


def loop_window_bounds(m, kernel, stride, dilation, pad, period):
    """Per phase: the union of the regions of every tap (the O(kernel) loop it replaces)."""
    return [
        _loop_merge(m._stored(stride * phase - pad + t * dilation) for t in range(kernel))
        for phase in range(period)
    ]


def loop_transposed(m, kernel, stride, dilation, left, n_out):
    """Per phase bounds and the interior by looping over every tap and every output unit."""

    def sources(o):
        return [
            (o + left - t * dilation) // stride
            for t in range(kernel)
            if (o + left - t * dilation) % stride == 0
        ]

    bounds = [_loop_merge(m._stored(i) for i in sources(p)) for p in range(m.period * stride)]
    first, last = m.interior
    inside = [
        o
        for o in range(n_out)
        if (read := [i for i in sources(o) if m._stored(i) is not None])
        and all(first <= i <= last for i in read)
    ]
    return bounds, (inside[0], inside[-1]) if inside else (0, -1)


@st.composite
def sized_axis_maps(draw) -> tuple[AxisMap, int]:
    """A chain of random windows and transposed windows over a known size, and its size."""
    n = draw(st.integers(1, 30))
    m = identity_map(n)
    for _ in range(draw(st.integers(0, 3))):
        k, s, d = draw(st.integers(1, 5)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
        left = draw(st.integers(-1, 4))
        if draw(st.booleans()):
            out = (n + 2 * max(left, 0) - d * (k - 1) - 1) // s + 1
            if out < 1:
                continue
            m, n = window_map(m, k, s, d, left, n, out, "x"), out
        else:
            out = n * s + max(d * (k - 1) + 1 - s, 0)
            candidate = transposed_map(m, k, s, d, left, n, out)
            if candidate is not None:
                m, n = candidate, out
    return m, n


@settings(max_examples=300, deadline=None)
@given(
    sized_axis_maps(),
    st.integers(1, 9),
    st.integers(1, 4),
    st.integers(1, 4),
    st.integers(-2, 6),
)
def test_window_map_equals_loop_over_taps(mn, kernel, stride, dilation, left):
    m, n = mn
    out = max((n + 2 * max(left, 0) - dilation * (kernel - 1) - 1) // stride + 1, 1)
    new = window_map(m, kernel, stride, dilation, left, n, out, "x")
    assert list(zip(new.low, new.high)) == loop_window_bounds(
        m, kernel, stride, dilation, left, new.period
    )


@settings(max_examples=300, deadline=None)
@given(
    sized_axis_maps(),
    st.integers(1, 9),
    st.integers(1, 4),
    st.integers(1, 4),
    st.integers(-2, 6),
    st.integers(0, 3),
)
def test_transposed_map_equals_loop_over_taps_and_units(mn, kernel, stride, dilation, left, extra):
    m, n = mn
    n_out = max(n * stride + dilation * (kernel - 1) - 2 * left + extra, 1)
    new = transposed_map(m, kernel, stride, dilation, left, n, n_out)
    if new is None:
        return  # period above MAX_PERIOD
    bounds, interior = loop_transposed(m, kernel, stride, dilation, left, n_out)
    assert list(zip(new.low, new.high)) == bounds
    assert new.interior == interior


def test_huge_kernels_and_strides_do_not_loop():
    """Kernel 10**9 "same" over 64 pixels (left padding (10**9 - 1)//2): unit 0 reads pixels
    -(10**9-1)//2 .. 10**9 - 1 - (10**9-1)//2 and the interior is empty; a transposed kernel of
    10**9 makes output o read inputs o - (10**9 - 1) .. o (regions are unclipped), so no
    unit reads only inputs 0..15 (that needs o - (10**9 - 1) >= 0 and o <= 15).
    Each took minutes (or all memory) before."""
    huge = 10**9
    left = same_left_padding(64, huge, 1)
    assert left == (huge - 1) // 2
    m = window_map(identity_map(64), huge, 1, 1, left, 64, 64, "x")
    assert m.region(0) == (-left, huge - 1 - left)
    assert m.interior[0] > m.interior[1]  # no unit avoids the padding
    assert m.unit_at_centre(m.centre(5)) == 5 and m.units_covering(0, 64) == tuple(range(64))
    t = transposed_map(identity_map(16), huge, 1, 1, 0, 16, 16 + huge - 1)
    assert t.region(0) == (-(huge - 1), 0) and t.region(20) == (20 - (huge - 1), 20)
    assert t.interior == (0, -1)
    assert same_left_padding(None, 3, huge) is None  # max(3-s+e,0)//2 takes 0 and 1
    assert same_left_padding(None, 1, huge) == 0


# -- layouts, unknowns and the JSON shape -----------------------------------------------------


def window_stack(data_format: str):
    """The same layers in either layout (names fixed, so the two reports' rows match)."""
    L, kw = layers, {"data_format": data_format}
    shape = (3, 32, 30) if data_format == "channels_first" else (32, 30, 3)
    inp = keras.Input(shape, name="image")
    x = L.Conv2D(8, 3, strides=2, padding="same", name="c1", **kw)(inp)
    x = L.Conv2D(8, (3, 5), dilation_rate=2, groups=4, name="c2", **kw)(x)
    x = L.MaxPooling2D(3, strides=2, padding="same", name="pool", **kw)(x)
    x = L.BatchNormalization(axis=1 if data_format == "channels_first" else -1, name="bn")(x)
    x = L.DepthwiseConv2D(3, depth_multiplier=2, padding="same", name="dw", **kw)(x)
    x = L.SeparableConv2D(5, 3, depth_multiplier=3, name="sep", **kw)(x)
    x = L.Conv2DTranspose(4, 3, strides=2, output_padding=1, padding="same", name="tr", **kw)(x)
    x = L.GlobalAveragePooling2D(keepdims=True, name="gap", **kw)(x)
    x = L.Flatten(name="flat")(x)  # Keras writes data_format "channels_last" here either way
    return keras.Model(inp, L.Dense(3, name="dense")(x))


def test_channels_first_receptive_field_equals_its_channels_last_twin(tmp_path):
    first = analyze_model(window_stack("channels_first"), tmp_path)
    last = cnncost.analyze(write_config_only(window_stack("channels_last"), tmp_path / "l.keras"))
    rows_first, rows_last = rf_rows(first), rf_rows(last)
    assert rows_first == rows_last
    # spot check against the recurrences: c1 is 3x3 stride 2; c2 a (3, 5) kernel dilated by 2
    assert rows_first["c1"]["size"] == [3, 3] and rows_first["c1"]["jump"] == [2, 2]
    assert rows_first["c2"]["size"] == [3 + (2 * (3 - 1)) * 2, 3 + (2 * (5 - 1)) * 2]
    assert rows_first["dense"]["global"] is True
    assert not [w for w in first.warnings if "receptive field" in w]


def test_unknown_receptive_field_is_warned_where_it_starts(tmp_path):
    inp = keras.Input((8, 8, 2))
    x = layers.Conv2D(2, 3, name="conv")(inp)
    x = layers.UpSampling2D(2, interpolation="bicubic", name="up")(x)
    x = layers.Conv2D(2, 3, name="after")(x)
    report = analyze_model(keras.Model(inp, x), tmp_path)
    rows = rf_rows(report)
    assert rows["conv"]["exact"] is True
    for name in ("up", "after"):
        assert rows[name]["exact"] is False and "bicubic" in rows[name]["reason"]
    (warning,) = [w for w in report.warnings if "receptive field" in w]
    assert warning.startswith("up: ") and "'bicubic'" in warning


def test_every_receptive_field_has_the_same_keys_in_the_same_order(tmp_path):
    import json

    from cnncost.passes.receptive_field import RF_KEYS
    from cnncost.render.json import render_json

    inp = keras.Input((16, 16, 3))
    x = layers.Conv2D(4, 3, name="conv")(inp)  # local
    g = layers.GlobalAveragePooling2D(name="gap")(x)  # global
    gate = layers.Reshape((1, 1, 4))(layers.Dense(4, activation="sigmoid")(g))
    gated = layers.Multiply(name="gate")([x, gate])  # global, with a local RF
    unknown = layers.Reshape((14 * 14, 4), name="flat_space")(gated)  # unknown
    up = layers.UpSampling2D(2, name="up")(x)  # position-dependent sizes
    model = keras.Model(inp, [unknown, up])
    data = json.loads(render_json(analyze_model(model, tmp_path)))
    fields = [
        rf
        for row in data["layers"]
        for rf in (row["receptive_field"] or {}).values()
        if rf is not None
    ]
    kinds = {(rf["global"], rf["exact"], rf["local"] is not None) for rf in fields}
    assert {
        (False, True, False),
        (True, True, False),
        (True, True, True),
        (None, False, False),
    } <= kinds
    for rf in fields:
        assert tuple(rf) == RF_KEYS, rf
        if rf["local"] is not None:
            assert tuple(rf["local"]) == RF_KEYS
