"""Hostile numeric config values finish fast, within a memory cap, with a report or one error.

Numeric fields of shipped example models (kernel sizes, strides, dilation rates, pool sizes,
paddings, filters, units, input sizes, ...) are set to huge or degenerate values (2**31, 10**9,
-1, 0); every analysis must finish within `SECONDS` (measured around `analyze_graph` in a
worker process) with either a report or a one-line `CnnCostError`, and the worker runs under an
address-space cap (RLIMIT_AS, 2 GiB), so unbounded memory shows up as a failure here, not as a
machine that swaps. The reviewer's cases (a "same"/"causal" Conv1D with kernel 10**9 used > 13 GB
and died; a Conv2DTranspose with strides 10**6 followed by a conv took 27 s with
--padding-aware) are pinned as explicit cases.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
WORKER = ROOT / "tests" / "support" / "hostile_worker.py"
MODELS = ROOT / "examples" / "models"
FILES = ["seed_cnn.keras", "mobilenet_v2.keras", "convnext_tiny.keras", "resnet50.keras"]
HOSTILE = [2**31, 10**9, -1, 0]
SECONDS = 2.0


def _run_worker(cases: list[dict]) -> list[dict]:
    result = subprocess.run(
        [sys.executable, str(WORKER)],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=30 + SECONDS * len(cases),
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return [json.loads(line) for line in result.stdout.splitlines()]


def _check(cases: list[dict], outcomes: list[dict]) -> None:
    assert len(outcomes) == len(cases)
    for case, outcome in zip(cases, outcomes):
        label = json.dumps({k: v for k, v in case.items() if k != "config"})[:300]
        assert outcome["outcome"] in ("report", "error"), (label, outcome)
        assert "\n" not in outcome["message"], (label, outcome)
        assert outcome["seconds"] < SECONDS, (label, outcome)


# -- the reviewer's cases, pinned -------------------------------------------------------------


def _sequential(input_shape, *layers):
    config = [{"class_name": "InputLayer", "config": {"name": "x", "batch_shape": input_shape}}]
    for index, (class_name, layer) in enumerate(layers):
        config.append({"class_name": class_name, "config": {"name": f"l{index}", **layer}})
    return {"class_name": "Sequential", "config": {"name": "m", "layers": config}}


def _conv1d(kernel, padding):
    return ("Conv1D", {"filters": 4, "kernel_size": kernel, "padding": padding})


TRANSPOSE_1E6 = ("Conv2DTranspose", {"filters": 4, "kernel_size": 3, "strides": 10**6})
PINNED = [
    _sequential([None, 64, 3], _conv1d(10**9, "same")),
    _sequential([None, 64, 3], _conv1d(10**9, "causal")),
    _sequential([None, 64, 3], _conv1d(2**31 - 1, "same")),
    _sequential([None, 16, 3], ("Conv1DTranspose", {"filters": 4, "kernel_size": 10**9})),
    _sequential(
        [None, 16, 16, 3],
        (TRANSPOSE_1E6[0], {**TRANSPOSE_1E6[1], "padding": "same"}),
        ("Conv2D", {"filters": 4, "kernel_size": 3, "padding": "same"}),
    ),
    _sequential([None, 10**9, 3], _conv1d(3, "same")),
    _sequential(
        [None, 10**8, 3],
        ("Conv1DTranspose", {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same"}),
    ),
    _sequential([None, None, 3], ("MaxPooling1D", {"pool_size": 3, "strides": 10**9})),
]


def test_reviewer_hostile_cases_are_fast_and_bounded():
    cases = [{"config": c, "padding_aware": pa} for c in PINNED for pa in (False, True)]
    outcomes = _run_worker(cases)
    _check(cases, outcomes)
    # All of these are models Keras could describe: each gives a report, not an error.
    assert [o["outcome"] for o in outcomes] == ["report"] * len(cases)


# -- random mutations of the shipped models ---------------------------------------------------


@cache
def _config(name: str) -> dict:
    return json.loads(zipfile.ZipFile(MODELS / name).read("config.json"))


def _int_leaves(value, path):
    """Paths to an int field, or to each int inside a list field (sizes, pairs of paddings)."""
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        yield path
    elif isinstance(value, list):
        yield path
        for index, item in enumerate(value):
            yield from _int_leaves(item, (*path, index))


def _numeric_paths(config, path=()):
    """(layer class, layer path, field path) of every numeric field of every layer config,
    nested models included."""
    for index, layer in enumerate(config.get("config", {}).get("layers", [])):
        here = (*path, "config", "layers", index)
        for key, value in layer.get("config", {}).items():
            if key != "layers" and (isinstance(value, list) or isinstance(value, int)):
                for leaf in _int_leaves(value, (*here, "config", key)):
                    yield layer["class_name"], here, leaf
        if "layers" in layer.get("config", {}):
            yield from _numeric_paths(layer, here)


@cache
def _paths(name: str) -> tuple[tuple, ...]:
    return tuple(path for _, _, path in _numeric_paths(_config(name)))


@st.composite
def mutations(draw) -> dict:
    name = draw(st.sampled_from(FILES))
    edits = []
    for _ in range(draw(st.integers(1, 2))):
        path = draw(st.sampled_from(_paths(name)))
        edits.append([list(path), draw(st.sampled_from(HOSTILE))])
    return {"file": str(MODELS / name), "edits": edits, "padding_aware": draw(st.booleans())}


@settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(batch=st.lists(mutations(), min_size=25, max_size=25))
def test_hostile_numeric_values_are_fast_and_bounded(batch):
    _check(batch, _run_worker(batch))


def _first_layer_of_each_class(name: str) -> list[tuple]:
    """The numeric paths of the first layer of each class in the file (the others repeat them)."""
    first: dict[str, tuple] = {}
    paths = []
    for class_name, layer, path in _numeric_paths(_config(name)):
        if first.setdefault(class_name, layer) == layer:
            paths.append(path)
    return paths


@pytest.mark.parametrize("name", FILES)
def test_every_numeric_field_at_every_hostile_value(name):
    """Every numeric field of the first layer of each class, at each hostile value, both ways."""
    cases = [
        {"file": str(MODELS / name), "edits": [[list(path), value]], "padding_aware": aware}
        for path in _first_layer_of_each_class(name)
        for value in HOSTILE
        for aware in (False, True)
    ]
    _check(cases, _run_worker(cases))


# -- every command on every hostile file (issue 17: bounded work, capped reads, numbers) -------

BAD = ROOT / "tests" / "data" / "bad"
SEED = MODELS / "seed_cnn.keras"


def _hostile_paths(folder: Path) -> dict[str, Path]:
    """tests/data/bad/, the generators' files (review instances) and the special files."""
    sys.path.insert(0, str(ROOT))
    from tests.support import hostile_files

    paths = {p.name: p for p in sorted(BAD.iterdir()) if p.name != "EXPECTED.tsv"}
    for name, make in hostile_files.ALL_MODELS.items():
        paths[f"gen:{name}"] = make(folder)
    for name, path in hostile_files.special_files(folder).items():
        paths[f"special:{name}"] = path
    return paths


def _commands(model: Path, folder: Path, claims: Path) -> list[list[str]]:
    model = str(model)
    return [
        ["report", model],
        ["report", model, "--format", "json"],
        ["report", model, "--format", "markdown"],
        ["diff", model, str(SEED), "--format", "json"],
        ["plot", model, "--out", str(folder / "plot.png")],
        ["formula", model, "--format", "json"],
        ["suggest", model, "--target-rf", "9", "--format", "json"],
        ["audit", model, str(claims), "--format", "json"],
    ]


def _side_cases(folder: Path) -> list[list[str]]:
    """Hostile side files and options on a good model."""
    from tests.support import hostile_files

    side = {name: make(folder) for name, make in hostile_files.SIDE_FILES.items()}
    special = hostile_files.special_files(folder / "side")
    seed, big = str(SEED), "1" + "0" * 400
    cases = [
        ["audit", seed, str(side["inf_claims"]), "--format", "json"],
        ["audit", seed, str(side["nan_claims"]), "--format", "json"],
        ["audit", seed, str(side["huge_claims"]), "--format", "json"],
        ["report", seed, "--device", str(side["nan_device"]), "--format", "json"],
        ["report", seed, "--device", str(side["inf_device"]), "--format", "json"],
        ["report", seed, "--device", str(side["deep_device"]), "--format", "json"],
        ["audit", seed, str(side["deep_claims"]), "--format", "json"],
        ["audit", seed, str(side["big_claims"]), "--format", "json"],
        ["suggest", str(side["long_int_json"]), "--target-rf", "9", "--format", "json"],
        ["report", seed, "--batch", big, "--format", "json"],
        ["report", seed, "--device", "h100", "--dataset-size", big, "--format", "json"],
        ["report", seed, "--input-shape", "9" * 5000 + ",32,3", "--format", "json"],
        ["report", seed, "--input-shape", ",".join(["1"] * 200_000), "--format", "json"],
        ["suggest", seed, "--max-flops", "inf", "--format", "json"],
        ["suggest", seed, "--max-params", big, "--format", "json"],
        ["suggest", seed, "--target-rf", big, "--format", "json"],
    ]
    for path in special.values():
        cases.append(["audit", seed, str(path), "--format", "json"])
        cases.append(["report", seed, "--device", str(path), "--format", "json"])
        cases.append(["suggest", str(path), "--target-rf", "9", "--format", "json"])
    return cases


def _check_commands(cases: list[dict], outcomes: list[dict]) -> None:
    assert len(outcomes) == len(cases)
    for case, outcome in zip(cases, outcomes):
        label = [a if len(a) < 80 else a[:40] + f"...({len(a)} chars)" for a in case["argv"]]
        assert outcome["outcome"] in ("report", "error"), (label, outcome)
        # CPU time: the test machines are shared, so wall time would time the neighbours; a
        # case blocked on a read (a FIFO) uses no CPU but ends as "hang" (the worker's alarm).
        assert outcome["cpu_seconds"] < SECONDS, (label, outcome)
        assert outcome["json_ok"], (label, outcome)
        if outcome["exit"] == 2:
            assert outcome["stderr_lines"] == 1, (label, outcome)
            assert outcome["message"].startswith("cnncost: error: "), (label, outcome)


def _claims(folder: Path) -> Path:
    path = folder / "claims.toml"
    path.write_text('[[claim]]\nquantity = "params"\nvalue = 10\n')
    return path


def test_reviewed_hostile_files_are_refused_fast_by_report(tmp_path):
    """Fast tier: `report` (table and JSON) on every generated and special hostile file, under
    2 GiB of address space, each one line and exit 2 in under SECONDS."""
    paths = {k: v for k, v in _hostile_paths(tmp_path).items() if ":" in k}
    cases = [
        {"argv": argv}
        for path in paths.values()
        for argv in _commands(path, tmp_path, _claims(tmp_path))[:2]
    ]
    outcomes = _run_worker(cases)
    _check_commands(cases, outcomes)
    # Every review instance is over a cap or malformed: refused, never analysed.
    assert {o["exit"] for o in outcomes} == {2}, [
        (c["argv"][1], o) for c, o in zip(cases, outcomes) if o["exit"] != 2
    ]


@pytest.mark.slow
def test_every_command_on_every_hostile_file_is_fast_and_bounded(tmp_path):
    """The acceptance of issue 17: every cnncost command, under a 2 GiB address-space cap,
    finishes in under SECONDS on every hostile file of tests/data/bad/ and of the generators
    (tests/support/hostile_files.py), and on hostile side files and options: a report, or one
    `cnncost: error:` line with exit 2; JSON output always parses as strict JSON."""
    claims = _claims(tmp_path)
    cases = [
        {"argv": argv}
        for path in _hostile_paths(tmp_path).values()
        for argv in _commands(path, tmp_path, claims)
    ]
    cases += [{"argv": argv} for argv in _side_cases(tmp_path)]
    _check_commands(cases, _run_worker(cases))


def test_hostile_side_files_and_options_are_one_line_errors(tmp_path):
    cases = [{"argv": argv} for argv in _side_cases(tmp_path)]
    outcomes = _run_worker(cases)
    _check_commands(cases, outcomes)
    assert {o["exit"] for o in outcomes} == {2}, [
        (c["argv"], o) for c, o in zip(cases, outcomes) if o["exit"] != 2
    ]
