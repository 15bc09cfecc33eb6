"""cnncost.limits: the capped reader, the bounded JSON parser, numbers validated where they
enter (options, claims, device profiles, config sizes), and JSON output that is always strict
RFC 8259 JSON (issue 17, items 2 and 4). Each test is written from the class of input, with
hypothesis where the input space is large."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import signal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnncost import limits
from cnncost.analysis import Options, analyze_graph, parse_shape
from cnncost.cli import main
from cnncost.devices import profile_from_dict
from cnncost.errors import CnnCostError
from cnncost.loaders.keras_config import graph_from_config
from cnncost.render.json import render_json
from tests.support import hostile_files

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "examples" / "models" / "seed_cnn.keras"
FAST = settings(max_examples=40, deadline=None, derandomize=True)


def _strict(text: str):
    """Parse JSON as RFC 8259: NaN/Infinity tokens are refused."""

    def refuse(token):
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


@contextlib.contextmanager
def _no_hang(seconds: int = 5):
    def alarm(signum, frame):
        raise TimeoutError("blocked on a read")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


# -- the capped reader ----------------------------------------------------------------------------


@settings(FAST, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(size=st.integers(0, 300), limit=st.integers(0, 300))
def test_read_capped_reads_up_to_the_cap_and_refuses_past_it(tmp_path_factory, size, limit):
    path = tmp_path_factory.mktemp("cap") / "file"
    path.write_bytes(b"x" * size)
    if size <= limit:
        assert limits.read_capped(path, limit) == b"x" * size
    else:
        with pytest.raises(CnnCostError, match=f"larger than {limit} bytes"):
            limits.read_capped(path, limit)


def test_every_special_file_is_refused_before_reading(tmp_path):
    """A FIFO blocks, /dev/zero never ends: each (and a link to each, and a folder) is refused
    by kind, at once, by every reader."""
    special = hostile_files.special_files(tmp_path)
    kinds = {
        "fifo": "a FIFO",
        "fifo_link": "a FIFO",
        "zero_link": "a character device",
        "dev_zero": "a character device",
    }
    for name, kind in kinds.items():
        with _no_hang():
            with pytest.raises(CnnCostError, match=kind):
                limits.read_capped(special[name], 100)
            with pytest.raises(CnnCostError, match=kind):
                limits.check_regular(special[name])
    with pytest.raises(CnnCostError, match="a directory"):
        limits.read_capped(tmp_path, 100)


SPECIAL = ["fifo", "fifo_link", "zero_link", "dev_zero", "saved_fifo", "saved_zero", "plugin_fifo",
           "plugin_zero"]  # fmt: skip


@pytest.mark.parametrize("name", SPECIAL)
def test_every_command_refuses_special_files(tmp_path, name):
    path = str(hostile_files.special_files(tmp_path)[name])
    claims = tmp_path / "c.toml"
    claims.write_text('[[claim]]\nquantity = "params"\nvalue = 1\n')
    commands = [
        ["report", path],
        ["formula", path],
        ["suggest", path, "--target-rf", "9"],
        ["audit", path, str(claims)],
        ["audit", str(SEED), path],
        ["report", str(SEED), "--device", path],
        ["report", str(SEED), "--plugin", path],
    ]
    for argv in commands:
        if argv[0] == "suggest" and name.startswith("saved"):
            continue  # suggest reads .keras and JSON configs only
        with _no_hang():
            code, _, err = _cli(argv)
        assert code == 2, (argv, err)
        assert err.count("\n") == 1 and err.startswith("cnncost: error: "), (argv, err)
        if "--plugin" in argv and not path.endswith(".py"):
            continue  # a module name, not a file: an import error names it
        if not argv[-1].endswith(".toml") or argv[0] != "audit":
            assert "not a regular" in err or "unknown device" in err, (argv, err)


# -- JSON in ----------------------------------------------------------------------------------------


@FAST
@given(digits=st.integers(1, 6000), negative=st.booleans())
def test_json_integers_of_any_length_parse_or_are_one_line_errors(digits, negative):
    text = ("-" if negative else "") + "7" * digits
    if digits <= limits.MAX_INT_DIGITS:
        assert limits.loads_json(f"[{text}]", "x") == [int(text)]
    else:
        with pytest.raises(CnnCostError, match=f"a {digits}-digit integer") as error:
            limits.loads_json(f"[{text}]", "x")
        assert "\n" not in str(error.value)


@FAST
@given(count=st.integers(0, 400), cap=st.integers(1, 400))
def test_json_value_count_is_capped_before_parsing(count, cap):
    text = "[" + ",".join(["{}"] * count) + "]"
    values = text.count(",") + text.count("[") + text.count("{")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(limits, "MAX_JSON_VALUES", cap)
        if values <= cap:
            assert limits.loads_json(text, "x") == [{}] * count
        else:
            with pytest.raises(CnnCostError, match="JSON values"):
                limits.loads_json(text, "x")


# -- JSON out ---------------------------------------------------------------------------------------

json_like = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=4)),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=10,
)


@FAST
@given(value=json_like)
def test_json_output_is_strict_or_a_one_line_error(value):
    try:
        text = limits.dumps_json(value)
    except CnnCostError as exc:
        assert "\n" not in str(exc)
        assert "Out of range float" in str(exc)
    else:
        _strict(text)


# -- numbers: options ------------------------------------------------------------------------------

number_text = st.one_of(
    st.integers(-(10**500), 10**500).map(str),
    st.sampled_from(["inf", "-inf", "nan", "1e400", "3e8", "0", "1_000", "٣", "1.5", "", "0x10"]),
    st.text(max_size=12),
)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(text=number_text)
def test_budget_option_is_a_bounded_whole_number_or_one_line_error(text):
    try:
        value = limits.parse_whole(text, "a budget", limits.MAX_COUNT)
    except CnnCostError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 300
    else:
        assert isinstance(value, int) and 1 <= value <= limits.MAX_COUNT


@settings(max_examples=25, deadline=None, derandomize=True)
@given(option=st.sampled_from(["--batch", "--dataset-size", "--input-shape"]), text=number_text)
def test_number_options_report_or_fail_in_one_line(option, text):
    argv = ["report", str(SEED), "--format", "json", option, text]
    if option == "--dataset-size":
        argv += ["--device", "h100"]
    code, out, err = _cli(argv)
    assert code in (0, 2), (argv, err)
    if code == 2:
        assert err.count("\n") == 1 and err.startswith("cnncost: error: ")
    else:
        report = _strict(out)
        for value in report["totals"].values():
            assert not isinstance(value, (int, float)) or abs(value) <= limits.MAX_COUNT


@FAST
@given(dims=st.lists(st.one_of(st.none(), st.integers(-5, 2**40)), min_size=1, max_size=80))
def test_input_shape_sizes_and_rank_are_bounded(dims):
    text = ",".join("?" if d is None else str(d) for d in dims)
    valid = len(dims) <= limits.MAX_RANK and all(
        d is None or 1 <= d <= limits.MAX_SIZE for d in dims
    )
    if valid:
        assert parse_shape(text) == tuple(dims)
    else:
        with pytest.raises(CnnCostError):
            parse_shape(text)


def test_batch_and_dataset_size_caps():
    with pytest.raises(CnnCostError, match="401-digit"):
        Options(batch=10**400)
    with pytest.raises(CnnCostError, match="cap"):
        Options(batch=limits.MAX_BATCH + 1)
    assert Options(batch=limits.MAX_BATCH).batch == limits.MAX_BATCH
    with pytest.raises(CnnCostError, match="cap"):
        Options(device="h100", dataset_size=limits.MAX_DATASET_SIZE + 1)


# -- numbers: side files ---------------------------------------------------------------------------

finite_or_not = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**40), 10**40),
)


@FAST
@given(peak=finite_or_not, bandwidth=finite_or_not, overhead=finite_or_not)
def test_device_profile_numbers_are_finite_and_bounded(peak, bandwidth, overhead):
    data = {"peak_flops": {"float32": peak}, "bandwidth": bandwidth, "overhead_s": overhead}

    def ok(v, positive):
        return math.isfinite(v) and abs(v) <= limits.MAX_COUNT and (v > 0 if positive else v >= 0)

    if ok(peak, True) and ok(bandwidth, True) and ok(overhead, False):
        profile = profile_from_dict(data, "p.json")
        assert math.isfinite(profile.peak_flops["float32"])
    else:
        with pytest.raises(CnnCostError):
            profile_from_dict(data, "p.json")


@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(value=st.sampled_from(["inf", "-inf", "nan", "+inf", "1e308", "1e31"]))
def test_audit_refuses_claims_that_are_not_finite_counts(tmp_path, value):
    claims = tmp_path / "claims.toml"
    for quantity in ("params", "macs", "flops", "rf", "output_size"):
        claims.write_text(f'[[claim]]\nquantity = "{quantity}"\nvalue = {value}\n')
        code, _, err = _cli(["audit", str(SEED), str(claims)])
        assert code == 2 and "is not a valid" in err, (quantity, value, err)


def test_audit_formula_is_bounded(tmp_path):
    from cnncost.audit import evaluate_formula

    with pytest.raises(CnnCostError, match="characters"):
        evaluate_formula("2*" * 1000 + "2")
    with pytest.raises(CnnCostError, match="cap"):
        evaluate_formula("*".join(["99999999999"] * 20))
    assert evaluate_formula("2 * (3*3*3) * 32") == 2 * 3 * 3 * 3 * 32


# -- numbers: sizes in the config -----------------------------------------------------------------


def _dense(units, size):
    return hostile_files.sequential("m", (None, size), [("Dense", {"units": units})])


@settings(max_examples=30, deadline=None, derandomize=True)
@given(units=st.integers(1, 10**20), size=st.integers(1, 10**20))
def test_huge_sizes_give_a_strict_report_or_one_line_error(units, size):
    try:
        report = analyze_graph(graph_from_config(_dense(units, size)), Options())
    except CnnCostError as exc:
        assert "\n" not in str(exc)
        assert max(units, size) > limits.MAX_SIZE or "cap" in str(exc)
        return
    assert size <= limits.MAX_SIZE  # a model input size
    data = _strict(render_json(report))
    assert all(
        abs(v) <= limits.MAX_COUNT for v in data["totals"].values() if isinstance(v, (int, float))
    )
    assert data["totals"]["params"] == size * units + units  # kernel + bias, from the config
    from cnncost.render.table import render_table
    from cnncost.render.view import make_view

    data = report.to_dict()
    render_table(data, "auto", lambda d: make_view(d, None, None, None, None, False))


def test_products_of_capped_sizes_stop_at_the_count_cap(tmp_path):
    path = hostile_files.make_overflowing_product(tmp_path)
    code, _, err = _cli(["report", str(path), "--format", "json"])
    assert code == 2 and "above cnncost's cap of 2**100" in err


def test_receptive_field_jump_through_many_strided_layers_is_bounded():
    """Each layer keeps the size (same padding, size 1) and multiplies the jump by its stride:
    the jump of 200 layers of stride 2**31 - 1 has 1,900 digits."""
    pool = ("MaxPooling1D", {"pool_size": 1, "strides": limits.MAX_SIZE, "padding": "same"})
    config = hostile_files.sequential("jump", (None, 1, 1), [pool] * 200)
    with pytest.raises(CnnCostError, match="cap of 2..100"):
        analyze_graph(graph_from_config(config), Options())


def test_json_model_file_with_a_long_integer(tmp_path):
    path = hostile_files.make_long_int_json(tmp_path)
    for argv in (["report", str(path)], ["suggest", str(path), "--target-rf", "3"]):
        code, _, err = _cli(argv)
        assert code == 2 and "5000-digit integer" in err, err


def test_zip_with_too_many_members_is_refused_before_its_directory_is_read(tmp_path):
    import zipfile

    path = tmp_path / "many.keras"
    with zipfile.ZipFile(path, "w") as archive:
        for index in range(limits.MAX_ZIP_MEMBERS + 1):
            archive.writestr(f"{index}", b"")
    code, _, err = _cli(["report", str(path)])
    assert code == 2 and "members" in err, err


def test_caps_are_documented():
    text = (ROOT / "docs" / "limits.md").read_text()
    names = [n for n in dir(limits) if n.startswith("MAX_")]
    assert names
    for name in names:
        assert name in text, f"{name} is not in docs/limits.md"
    assert os.path.basename("limits.md") in (ROOT / "docs" / "index.md").read_text()


@settings(max_examples=10, deadline=None, derandomize=True)
@given(height=st.one_of(st.integers(22, 2**31 + 5), st.integers(10**30, 10**400)))
def test_formula_at_sizes_are_bounded(height):
    from cnncost.symbolic import formulas

    result = formulas(str(SEED))
    try:
        evaluated = result.evaluate({"H": height, "W": 64})
    except CnnCostError as exc:
        assert "\n" not in str(exc)
        assert height > limits.MAX_SIZE
    else:
        assert height <= limits.MAX_SIZE
        assert all(abs(v) <= limits.MAX_COUNT for v in evaluated.totals.values() if v)
