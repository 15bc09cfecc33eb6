"""`cnncost plot`: a fixed-size figure whatever the depth, and unknown values drawn as unknown
(never as an empty bar that reads as zero), with a warning (issue 15, item 4)."""

from __future__ import annotations

import copy
import struct
from functools import cache
from pathlib import Path

import pytest

import cnncost
from cnncost.cli import main
from cnncost.plot import DPI, FIGSIZE, Options, build_figure, plot_warnings, rf_point

MODELS = Path(__file__).resolve().parent.parent / "examples" / "models"
EXPECTED = (int(FIGSIZE[0] * DPI), int(FIGSIZE[1] * DPI))  # 1200 x 900


@cache
def _data(model: str) -> dict:
    return cnncost.analyze(str(MODELS / f"{model}.keras")).to_dict()


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])  # IHDR width, height


def _texts(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]


@pytest.mark.parametrize(
    "model", ["seed_cnn", "resnet50", pytest.param("efficientnet_b0", marks=pytest.mark.slow)]
)
def test_the_figure_has_one_size_whatever_the_depth(tmp_path, capsys, model):
    out = tmp_path / f"{model}.png"
    assert main(["plot", str(MODELS / f"{model}.keras"), "--out", str(out)]) == 0
    assert _png_size(out) == EXPECTED  # ResNet50 was 6,776 px wide
    assert capsys.readouterr().err == ""  # every value known: no warning


@pytest.mark.slow
def test_efficientnet_b7_fits_too(tmp_path):
    out = tmp_path / "b7.png"
    assert main(["plot", str(MODELS / "efficientnet_b7.keras"), "--out", str(out)]) == 0
    assert _png_size(out) == EXPECTED


def _with_unknowns() -> dict:
    data = copy.deepcopy(_data("resnet50"))
    for row in data["layers"]:
        if row["name"] in ("conv3_block2_2_conv", "conv4_block1_0_conv"):
            row.update(flops=None, macs=None, status="unsupported")
            for field in row["receptive_field"].values():
                field["exact"] = False
    data["left_out"] = {
        k: ["conv3_block2_2_conv", "conv4_block1_0_conv"] for k in ("macs", "flops")
    }
    data["complete"] = False
    return data


def test_unknown_values_are_marked_not_drawn_as_zero():
    import matplotlib.pyplot as plt

    data = _with_unknowns()
    fig = build_figure(data, Options())
    try:
        texts = _texts(fig)
        heaviest = fig.axes[0]
        labels = [t.get_text() for t in heaviest.get_yticklabels()]
        assert labels[-2:] == ["conv3_block2_2_conv", "conv4_block1_0_conv"]
        assert texts.count("unknown value (not ranked)") == 2
        # the blocks holding them: hatched, labelled as lower bounds
        assert sum("(partial)" in t and t.strip().startswith("≥") for t in texts) == 2
        assert any("≥" in t for t in texts if "FLOPs" in t)  # the title's total
        legend = [t.get_text() for t in fig.axes[2].get_legend().get_texts()]
        assert "FLOPs unknown here (not counted)" in legend
        legend = [t.get_text() for t in fig.axes[3].get_legend().get_texts()]
        assert "RF unknown / inexact" in legend
    finally:
        plt.close(fig)
    warnings = plot_warnings(data)
    assert len(warnings) == 2 and all("conv3_block2_2_conv" in w for w in warnings)
    assert "not as zero" in warnings[0]


def test_known_values_show_no_unknown_marks():
    import matplotlib.pyplot as plt

    fig = build_figure(_data("resnet50"), Options())
    try:
        assert not any("unknown" in t or "partial" in t for t in _texts(fig))
    finally:
        plt.close(fig)


def test_top_and_log_scale():
    import matplotlib.pyplot as plt

    fig = build_figure(_data("seed_cnn"), Options(top=3))
    try:
        assert len(fig.axes[0].get_yticklabels()) == 3
        assert fig.axes[0].get_xscale() == "linear"  # 578M, 532M, 116M: within a decade
    finally:
        plt.close(fig)
    fig = build_figure(_data("seed_cnn"), Options())
    try:
        assert fig.axes[0].get_xscale() == "log"  # 578M down to 346K: three decades
    finally:
        plt.close(fig)
    fig = build_figure(_data("seed_cnn"), Options(scale="linear", by="type"))
    try:
        assert fig.axes[0].get_xscale() == "linear"
        assert "per type" in fig.axes[1].get_title()
    finally:
        plt.close(fig)


def test_rf_points():
    rows = {r["name"]: r for r in _data("seed_cnn")["layers"]}
    assert rf_point(rows["max_pooling2d_2"]) == (22, 8, "local")
    assert rf_point(rows["dense"])[2] == "global"
    effnet = {r["name"]: r for r in _data("efficientnet_b0")["layers"]}
    assert rf_point(effnet["top_activation"]) == (851, 32, "gated")


def test_cli_warns_on_stderr_and_still_writes(tmp_path, capsys, monkeypatch):
    import cnncost.cli as cli

    real = cli._analyze

    class _Unknown:
        def __init__(self, report):
            self.report = report

        def to_dict(self):
            return _with_unknowns()

    monkeypatch.setattr(cli, "_analyze", lambda *a: _Unknown(real(*a)))
    out = tmp_path / "u.png"
    assert main(["plot", str(MODELS / "resnet50.keras"), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert err.count("cnncost: warning:") == 2 and "conv4_block1_0_conv" in err
    assert _png_size(out) == EXPECTED


def test_bad_top_is_one_line(tmp_path, capsys):
    assert main(["plot", str(MODELS / "seed_cnn.keras"), "--out", str(tmp_path / "x.png"),
                 "--top", "0"]) == 2  # fmt: skip
    assert len(capsys.readouterr().err.splitlines()) == 1


def test_a_real_unsupported_layer_is_marked_and_warned(tmp_path, capsys):
    import keras

    from tests.support.keras_reference import write_config_only

    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3, name="conv1")(inputs)
    x = keras.layers.Lambda(lambda t: t * 2.0, name="doubled")(x)
    x = keras.layers.Conv2D(4, 3, name="conv2")(x)
    outputs = keras.layers.Dense(5, name="head")(keras.layers.GlobalAveragePooling2D()(x))
    path = write_config_only(keras.Model(inputs, outputs), tmp_path / "lam.keras")
    out = tmp_path / "lam.png"
    assert main(["plot", str(path), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "cnncost: warning: 1 layer(s) with unknown cost (doubled)" in err
    assert _png_size(out) == EXPECTED
    data = cnncost.analyze(str(path)).to_dict()
    import matplotlib.pyplot as plt

    fig = build_figure(data, Options())
    try:
        labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
        assert labels[-1] == "doubled" and "unknown value (not ranked)" in _texts(fig)
        assert fig.axes[1].get_title() == "share of FLOPs and params per type"
        assert " unknown" in _texts(fig)  # the Lambda type: all unknown, not an empty 0% bar
    finally:
        plt.close(fig)
