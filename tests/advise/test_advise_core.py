"""Acceptance 2: `suggest` on the seed model reaches the target RF, and each written edit is a
model Keras builds with exactly the params cnncost predicted for it."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cnncost.advise import analyse_config, metrics, suggest, write_suggestions
from cnncost.analysis import Options, analyze
from cnncost.errors import CnnCostError

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "examples" / "models" / "seed_cnn.keras"


def test_seed_target_rf_128_is_reached_with_exact_numbers():
    advice = suggest(SEED, target_rf=128)
    reached = [s for s in advice.suggestions if s.meets_target and s.ranking is not None]
    assert reached and min(reached[0].after.rf) >= 128
    # the numbers are those of a full re-analysis of the edited config (the edit is the model)
    full = metrics(analyse_config(reached[0].config, Options()))
    assert (full.rf, full.flops, full.params) == (
        reached[0].after.rf,
        reached[0].after.flops,
        reached[0].after.params,
    )


def test_global_pooling_param_drop_is_exact():
    advice = suggest(SEED)
    (gap,) = [s for s in advice.suggestions if s.kind == "global-pooling"]
    # Dense(46) on 30*30*128 = 115200 features -> on 128 channels: the kernel loses
    # (115200 - 128) * 46 weights; the bias (46) stays.
    assert advice.before.params - gap.after.params == (30 * 30 * 128 - 128) * 46


def test_resize_to_a_flop_budget_and_an_impossible_one():
    advice = suggest(SEED, max_flops=300_000_000)
    (resize,) = [s for s in advice.suggestions if s.kind == "resize-input"]
    assert resize.meets_target and resize.after.flops <= 300_000_000
    # one pixel larger breaks the budget: the search found the largest size
    side = resize.after.input_size[0] + 1
    bigger = analyze(SEED, input_shape=f"{side},{side},3")
    assert bigger.totals["flops"] > 300_000_000
    impossible = suggest(SEED, max_flops=1000)
    (closest,) = [s for s in impossible.suggestions if s.kind == "resize-input"]
    assert not closest.meets_target and "no input size meets" in closest.detail
    assert closest.after.input_size == (22, 22)  # the smallest size the seed model accepts


def test_bad_budgets_are_errors():
    with pytest.raises(CnnCostError, match="positive"):
        suggest(SEED, target_rf=0)


def test_written_suggestions_rebuild_in_keras_with_the_predicted_params(tmp_path):
    keras = pytest.importorskip("keras")
    advice = suggest(SEED, target_rf=128, max_flops=300_000_000)
    paths = write_suggestions(advice, tmp_path)
    editable = [s for s in advice.suggestions if s.config is not None]
    assert len(paths) == len(editable) >= 5
    for suggestion, path in zip(editable, paths):
        config = json.loads(zipfile.ZipFile(path).read("config.json"))
        model = keras.saving.deserialize_keras_object(config)
        assert model.count_params() == suggestion.after.params, (suggestion.kind, path)
        # and cnncost reads the written file back to the same numbers
        assert analyze(path).totals["flops"] == suggestion.after.flops


def test_suggest_cli_json(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "cnncost",
            "suggest",
            str(SEED),
            "--target-rf",
            "128",
            "--format",
            "json",
            "--write",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    kinds = [s["kind"] for s in data["suggestions"]]
    assert "global-pooling" in kinds
    ranked = [s for s in data["suggestions"] if "ranking" in s]
    assert ranked and ranked[0]["ranking"]["rank"] == 1
    assert data["objective"]["name"] == "least-change"
    assert all(s["after"]["final_feature_map"] for s in ranked)
    assert data["before"]["final_feature_map"] == [30, 30]  # max_pooling2d_2's 30x30x128
    assert all(Path(s["written"]).exists() for s in data["suggestions"] if s["writable"])
    bad = subprocess.run(
        [sys.executable, "-m", "cnncost", "suggest", str(SEED), "--max-flops", "lots"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert bad.returncode == 2 and bad.stderr.startswith("cnncost: error:")


def test_unproductive_and_dead_compute_are_found():
    keras = pytest.importorskip("keras")
    from keras import layers

    inputs = keras.Input((32, 32, 3))
    x = layers.Conv2D(4, 3, strides=4, name="skipper")(inputs)  # stride 4 > window 3
    x = layers.Conv2D(4, 3, padding="same", name="wide")(x)  # RF 3 + 2*4 = 11
    x = layers.Conv2D(4, 3, padding="same", name="late")(x)  # its input's RF is 11
    outputs = layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, [outputs])
    from support.keras_reference import write_config_only

    path = write_config_only(model, Path(__import__("tempfile").mkdtemp()) / "m.keras")
    advice = suggest(path)
    kinds = {(s.kind, s.title.split(":")[0]) for s in advice.suggestions}
    assert ("dead-compute", "skipper") in kinds
    # RF into `late`: 11 < 32: no unproductive layer at this size
    assert not any(s.kind == "unproductive-layer" for s in advice.suggestions)
    # an input of 11x11 is covered by the RF reaching `late`: its 3x3 kernel adds nothing
    small = suggest(path, options=Options(input_shape="11,11,3"))
    assert any(
        s.kind == "unproductive-layer" and s.title.startswith("late") for s in small.suggestions
    )


def test_resize_search_over_a_huge_input_is_bounded():
    """The resize search bisects over 1..height: a 10**9-pixel side must not build a list of
    10**9 sizes (it died with MemoryError). Run under a 2 GiB address-space cap; the answer is
    the largest square under the budget, as for the 256x256 seed (aspect ratio 1)."""
    program = (
        "import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30)); "
        "from cnncost.cli import main; sys.exit(main())"
    )
    result = subprocess.run(
        [sys.executable, "-c", program, "suggest", str(SEED), "--format", "json",
         "--input-shape", "1000000000,1000000000,3", "--max-flops", "3e8"],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    (resize,) = [s for s in json.loads(result.stdout)["suggestions"] if s["kind"] == "resize-input"]
    advice = suggest(SEED, max_flops=300_000_000)
    (small,) = [s for s in advice.suggestions if s.kind == "resize-input"]
    assert resize["title"] == small.title


# -- Functional models: every written edit is a model Keras builds with the predicted numbers ----


def _assert_round_trip(advice, directory):
    """Each written `.keras` rebuilds in Keras with cnncost's params and output shapes."""
    keras = pytest.importorskip("keras")
    paths = write_suggestions(advice, directory)
    editable = [s for s in advice.suggestions if s.config is not None]
    assert len(paths) == len(editable)
    for suggestion, path in zip(editable, paths):
        config = json.loads(zipfile.ZipFile(path).read("config.json"))
        model = keras.saving.deserialize_keras_object(config)
        assert model.count_params() == suggestion.after.params, (suggestion.kind, path)
        report = analyze(path)
        keras_shapes = [tuple(output.shape)[1:] for output in model.outputs]
        assert keras_shapes == [tuple(o.shape)[1:] for o in report.outputs], path
        assert report.totals["flops"] == suggestion.after.flops, path
    return editable


def _branch_merge_model(path: Path) -> Path:
    """Two branches into an Add: a stride-2 1x1 shortcut (dead compute whose stride-1 edit
    would break the Add) beside a stride-2 3x3 conv; then Flatten + Dense (the GAP swap)."""
    keras = pytest.importorskip("keras")
    from keras import layers
    from support.keras_reference import write_config_only

    inputs = keras.Input((32, 32, 3))
    x = layers.Conv2D(8, 3, padding="same", name="stem")(inputs)
    main = layers.Conv2D(16, 3, strides=2, padding="same", name="main")(x)
    short = layers.Conv2D(16, 1, strides=2, name="short")(x)
    x = layers.Add(name="merge")([main, short])
    x = layers.Conv2D(16, 3, padding="same", name="after")(x)
    x = layers.Flatten(name="flatten")(x)
    outputs = layers.Dense(10, name="head")(x)
    return write_config_only(keras.Model(inputs, outputs), path)


def test_branch_merge_edits_rebuild_and_a_merge_breaking_edit_is_not_written(tmp_path):
    path = _branch_merge_model(tmp_path / "branch.keras")
    advice = suggest(path, target_rf=40, max_flops=2_000_000)
    kinds = {s.kind for s in advice.suggestions if s.config is not None}
    assert {"resize-input", "global-pooling"} <= kinds
    assert any(s.ranking is not None and s.meets_target for s in advice.suggestions)
    # `short`: window 1, stride 2 skips pixels; stride 1 there gives 32x32 beside main's
    # 16x16 at the Add: reported, with the reason, and not written
    (short,) = [s for s in advice.suggestions if s.title.startswith("short:")]
    assert short.kind == "dead-compute" and short.config is None and "no edit" in short.detail
    _assert_round_trip(advice, tmp_path / "out")


def test_inserted_functional_layer_records_the_tensor_it_reads():
    """Keras 3 rebuilds an inbound tensor from its recorded shape: the inserted pooling's
    reference must carry one (it raised KeyError 'shape' without), and a top-level name."""
    from cnncost.advise.config_edit import insert_after, layer_index, load_model_config, pool_layer

    config = dict(load_model_config(ROOT / "examples" / "models" / "resnet50.keras").config)
    edited = insert_after(config, "conv1_conv", pool_layer(config, 2))
    layer = edited["config"]["layers"][layer_index(edited, "conv1_conv") + 1]
    assert layer["name"] == layer["config"]["name"] == "max_pooling_inserted_1"
    reference = layer["inbound_nodes"][0]["args"][0]["config"]
    assert reference["shape"] == [None, 112, 112, 64] and reference["keras_history"][0] == (
        "conv1_conv"
    )


def test_layers_of_nested_models_are_not_edit_candidates():
    from cnncost.advise import load_model_config
    from cnncost.advise.context import make_context

    model = ROOT / "examples" / "models" / "convnext_tiny.keras"
    context = make_context(load_model_config(model), Options())
    report = context.report
    names = [row.name for row in context.windows()]
    assert names and not any("/" in name for name in names)
    assert any("/" in row.name and row.type == "Conv2D" for row in report.layers)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet50", "mobilenet_v2", "efficientnet_b0", "convnext_tiny"])
def test_functional_examples_round_trip_through_keras(name, tmp_path, monkeypatch):
    """Every edit written for a keras.applications model rebuilds in Keras with the predicted
    params and output shape."""
    import cnncost.advise.search

    monkeypatch.setattr(cnncost.advise.search, "FULL_BUDGET", 40)  # ConvNeXt: full re-analysis
    advice = suggest(
        ROOT / "examples" / "models" / f"{name}.keras",
        target_rf=2000,
        max_flops=1_000_000_000,
        max_params=30_000_000,
    )
    editable = _assert_round_trip(advice, tmp_path)
    assert editable


def test_written_files_open_in_one_documented_step(tmp_path):
    """Config-only files open with the recipe the CLI prints; with `weights`, they are complete
    `.keras` files that `keras.saving.load_model` opens (fresh weights), params as predicted."""
    keras = pytest.importorskip("keras")
    from cnncost.advise.config_edit import LOAD_CONFIG_ONLY

    advice = suggest(SEED, target_rf=128)
    editable = [s for s in advice.suggestions if s.config is not None][:2]
    advice = type(advice)(advice.model, advice.options, advice.before, tuple(editable))
    for weights, folder in ((False, tmp_path / "config"), (True, tmp_path / "full")):
        for suggestion, path in zip(editable, write_suggestions(advice, folder, weights)):
            if weights:
                model = keras.saving.load_model(path)
            else:
                recipe = LOAD_CONFIG_ONLY.split(" (")[0].replace("PATH", repr(str(path)))
                model = eval(recipe, {"keras": keras, "zipfile": zipfile})
            assert model.count_params() == suggestion.after.params, (weights, path)
