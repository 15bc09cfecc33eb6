"""Held-out validation's pure parts (reference_model/validate.py): the three predictors of one
calibration (`strip_device`), the goal, the table row and the Markdown table, on profiles stored
in tests/reference_model/data/heldout (the seed CNN at 64 px, batch 1 with per-layer timings and
the TF profiler's FLOPs, batch 2 without; measured here by `benchmarks/latency_validation.py
--quick`, with its calibration, `measured.kinds.samples` left out). No timing is asserted."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference_model.validate import (
    AFTER,
    GOAL_ERROR_PCT,
    GOAL_SPEARMAN,
    PREDICTORS,
    flops_check,
    goal,
    markdown_table,
    profiler_scope,
    set_row,
    strip_device,
    validate,
)

DATA = Path(__file__).parent / "data" / "heldout"


def _load(name: str) -> dict:
    return json.loads((DATA / name).read_text())


# -- strip_device ---------------------------------------------------------------------------------


def test_strip_device_leaves_out_exactly_each_predictors_keys():
    device = _load("device.json")
    device["time_model"] = {"anything": 1}  # the shape-dependent model's key, when written
    before = copy.deepcopy(device)
    raw = strip_device(device, "raw")
    assert set(device) - set(raw) == {"time_model", "efficiency", "train_call_overhead_s"}
    assert all(raw[k] == device[k] for k in raw)
    assert set(device) - set(strip_device(device, "kinds")) == {"time_model"}
    assert strip_device(device, "shape") == device
    assert device == before  # the calibration itself is not changed
    with pytest.raises(ValueError, match="unknown predictor"):
        strip_device(device, "magic")
    assert list(PREDICTORS)[-1] == AFTER  # the table's goal judges the last column


# -- three predictors on a stored profile -------------------------------------------------------


@pytest.fixture(scope="module")
def seed_results(tmp_path_factory):
    keras = pytest.importorskip("keras")
    from cnncost import analyze
    from reference_model.profile import build_named_model

    keras.backend.clear_session()  # the seed's layer names (conv2d, conv2d_1, ...) as profiled
    model = build_named_model("seed", 64)
    folder = tmp_path_factory.mktemp("devices")
    device = _load("device.json")
    paths = {}
    for predictor in PREDICTORS:
        paths[predictor] = folder / f"{predictor}.json"
        paths[predictor].write_text(json.dumps(strip_device(device, predictor)))
    # the raw roofline written by hand from the calibration's figures: what `raw` must equal
    by_hand = {
        key: device[key] for key in ("peak_flops", "bandwidth", "overhead_s", "call_overhead_s")
    }
    (folder / "by_hand.json").write_text(json.dumps(by_hand))
    convention = analyze(model, flops_convention="tf-profiler").to_dict()
    out = {}
    for batch in (1, 2):
        profile = _load(f"seed_b{batch}.profile.json")

        def predict(path, batch=batch):
            return analyze(model, batch=batch, dtype="float32", device=str(path)).to_dict()

        out[batch] = {
            "profile": profile,
            "results": {p: validate(predict(paths[p]), profile, convention) for p in PREDICTORS},
            "by_hand": validate(predict(folder / "by_hand.json"), profile, convention),
        }
    keras.backend.clear_session()
    return out


def test_raw_is_the_roofline_alone_and_shape_is_kinds_without_a_time_model(seed_results):
    for batch, entry in seed_results.items():
        results = entry["results"]
        for key in ("inference", "train_step"):
            raw = results["raw"]["latency"][key]["predicted"]
            assert raw == entry["by_hand"]["latency"][key]["predicted"], (batch, key)
            # the fixture's calibration has factors (efficiency < 1, overheads of 20-160 us):
            # the kinds prediction differs from the raw one
            assert results["kinds"]["latency"][key]["predicted"] != raw
            assert (
                results["shape"]["latency"][key]["predicted"]
                == results["kinds"]["latency"][key]["predicted"]
            )


def test_set_row_takes_the_measurements_and_each_predictors_error(seed_results):
    for batch, entry in seed_results.items():
        profile, results = entry["profile"], entry["results"]
        row = set_row("seed", batch, results)
        assert (row["model"], row["batch"]) == ("seed", batch)
        for key in ("inference", "train_step"):
            measured = profile[key]["latency_s"]
            assert row[key]["measured"] == measured
            assert row[key]["spread"] == profile[key]["spread"]
            for p in PREDICTORS:
                predicted = results[p]["latency"][key]["predicted"]
                assert row[key]["predicted"][p] == predicted
                assert row[key]["error_pct"][p] == pytest.approx(100 * (predicted / measured - 1))
        layers = row["layers"]
        assert layers["timed"] == len(profile["layers"])  # every layer joined (0 at batch 2)
        if profile["layers"]:
            assert layers["spread_median"] == pytest.approx(
                sorted(r["spread"] for r in profile["layers"])[len(profile["layers"]) // 2]
            )
            assert row["flops_equal"] is True  # cnncost's tf-profiler FLOPs equal the profiler's
        else:
            assert layers["spearman"] == {p: None for p in PREDICTORS}
            assert row["flops_equal"] is None  # batch 2: the profiler ran at batch 1 only
        assert row["goal"][AFTER] == goal(results[AFTER])


def test_markdown_table_one_line_per_configuration(seed_results):
    rows = [set_row("seed", b, e["results"]) for b, e in seed_results.items()]
    rows.append({**copy.deepcopy(rows[1]), "model": "odd|name"})
    text = markdown_table(rows, list(PREDICTORS))
    lines = text.strip().splitlines()
    header = lines[0].split(" | ")
    assert len(lines) == 2 + len(rows)
    assert "inf. raw" in lines[0] and "train shape" in lines[0] and "goal (shape" in lines[0]
    for line in lines[2:]:
        # as many cells as header cells (an escaped | in a name does not split a cell)
        assert len(line.replace("\\|", "").split(" | ")) == len(header)
    assert lines[2].startswith("| seed | 1 | ")
    assert "odd\\|name" in lines[4]
    batch2 = lines[3].split(" | ")
    assert batch2[len(header) - 5] == "-"  # no per-layer timings at batch 2
    assert lines[3].endswith("(no per-layer) |")
    error = rows[0]["inference"]["error_pct"]["raw"]
    assert f"({error:+.0f}%)" in lines[2]


# -- the goal ---------------------------------------------------------------------------------------


def _result(inference=None, train=None, rho=None, spread_inf=None, spread_train=None):
    def part(error):
        return {"error_pct": error}

    return {
        "latency": {"inference": part(inference), "train_step": part(train)},
        "layers": {"spearman": rho},
        "measured_spread": {"inference": spread_inf, "train_step": spread_train},
    }


errors = st.one_of(st.none(), st.floats(-300, 300, allow_nan=False))
rhos = st.one_of(st.none(), st.floats(-1, 1, allow_nan=False))


@given(errors, errors, rhos)
def test_goal_met_exactly_when_every_measured_figure_is_within_it(inference, train, rho):
    g = goal(_result(inference, train, rho))
    figures = [e for e in (inference, train) if e is not None]
    if not figures and rho is None:
        assert g["met"] is None and g["missed"] == []
        return
    expected = all(abs(e) <= GOAL_ERROR_PCT for e in figures) and (
        rho is None or rho >= GOAL_SPEARMAN
    )
    assert g["met"] is expected
    assert bool(g["missed"]) is not expected


def test_goal_says_why_and_names_an_error_within_the_clocks_spread():
    g = goal(_result(inference=GOAL_ERROR_PCT, train=-35.0, rho=0.85, spread_train=0.5))
    assert g["met"] is False
    assert g["missed"] == ["train step -35% (spread 50%, within it)", "Spearman 0.85"]
    g = goal(_result(inference=-45.0, spread_inf=0.1, rho=GOAL_SPEARMAN))
    assert g["missed"] == ["inference -45% (spread 10%)"]
    assert g["checked"] == ["inference", "layers"]


# -- FLOPs of traced layers ------------------------------------------------------------------------


def test_flops_of_a_traced_layers_rows_are_summed_under_the_profilers_row():
    def row(name, flops, type_="Dense"):
        return {"name": name, "type": type_, "flops": flops}

    rows = [
        row("input", 0, "InputLayer"),
        row("conv", 2 * 3 * 3 * 3 * 8, "Conv2D"),
        row("attn/qkv", 2 * 16 * 48),
        row("attn/matmul", 2 * 4 * 4 * 16, "ops.Matmul"),
        row("attn/inner/proj", 2 * 16 * 16),
    ]
    measured = {"conv": 2 * 3 * 3 * 3 * 8, "attn": 2 * 16 * 48 + 2 * 4 * 4 * 16 + 2 * 16 * 16}
    assert profiler_scope("attn/inner/proj", measured) == "attn"
    assert profiler_scope("conv", measured) == "conv"
    assert profiler_scope("elsewhere/x", measured) == "elsewhere/x"
    total = sum(measured.values())
    check = flops_check(rows, {"total_flops": total, "layers": measured})
    assert check["equal"] and check["layers_compared"] == 2 and check["mismatches"] == []
    measured["attn"] += 7
    check = flops_check(rows, {"total_flops": total + 7, "layers": measured})
    assert not check["equal"]
    assert check["mismatches"] == [
        {"name": "attn", "cnncost": measured["attn"] - 7, "profiler": measured["attn"]}
    ]


# -- kimm models by name ---------------------------------------------------------------------------


def test_kimm_models_by_name_and_a_one_line_error_for_an_unknown_one():
    keras = pytest.importorskip("keras")
    pytest.importorskip("kimm")
    from reference_model.errors import UsageError
    from reference_model.profile import build_named_model

    with pytest.raises(UsageError, match="unknown kimm model 'NoSuchNet'"):
        build_named_model("kimm:NoSuchNet")
    with pytest.raises(UsageError, match="kimm:NAME"):
        build_named_model("NoSuchNet")
    keras.backend.clear_session()
    model = build_named_model("kimm:RegNetX002", 64)
    assert tuple(model.inputs[0].shape) == (None, 64, 64, 3)
    assert type(model).__module__.startswith("kimm")
    keras.backend.clear_session()


def test_time_sources_count_the_timed_layers_each_model_predicted():
    from reference_model.validate import time_sources

    rows = [
        {"time_source": "fitted:conv", "predicted": 1e-3},
        {"time_source": "fitted:conv", "predicted": 2e-3},
        {"time_source": "roofline", "predicted": 1e-4},
        {"time_source": "kind-factors", "predicted": None},  # not timed: not counted
        {"predicted": 1e-3},  # a report from before time_source
    ]
    assert time_sources(rows) == {"fitted:conv": 2, "roofline": 1}
    assert time_sources([]) == {}


def test_set_row_counts_the_sources_per_predictor(seed_results):
    row = set_row("seed", 1, seed_results[1]["results"])
    rows = seed_results[1]["results"]["shape"]["layers"]["rows"]
    sources = [r["time_source"] for r in rows if r["time_source"] is not None]
    assert row["layers"]["time_sources"]["shape"] == {s: sources.count(s) for s in set(sources)}


def test_a_top_level_op_typed_as_its_class_is_summed_with_the_profilers_ops():
    """ConvNeXt's `x + y` in a functional model: a row `add` of JSON type `Add` (the operation's
    class, as a Keras Add layer's), which the profiler counts under `ops:Add`, not a scope."""
    n = 7 * 7 * 96
    rows = [
        {"name": "add", "type": "Add", "flops": n},
        {"name": "add_1", "type": "Add", "flops": n},
        {"name": "merge", "type": "Add", "flops": n},  # a real Add layer: its own scope
    ]
    measured = {"ops:Add": 2 * n, "merge": n}
    check = flops_check(rows, {"total_flops": 3 * n, "layers": measured})
    assert check["equal"] and check["layers_compared"] == 1
    assert check["ops_sum"] == {"cnncost": 2 * n, "profiler": 2 * n}
    measured["merge"] = 0  # the layer's own scope counting nothing is still a mismatch
    assert flops_check(rows, {"total_flops": 3 * n, "layers": measured})["mismatches"] == [
        {"name": "merge", "cnncost": n, "profiler": 0}
    ]
