"""Option strings nobody checked (issue 17, item 5): `formula --at` with digits that are not
ASCII, `calibrate` sizes, repeats, dtypes and names. Random strings (hypothesis) give a run or
the one-line error, checked before any measurement."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnncost import cli, devices
from cnncost.errors import CnnCostError

ROOT = Path(__file__).resolve().parent.parent
SEED = str(ROOT / "examples" / "models" / "seed_cnn.keras")
CNNCOST = shutil.which("cnncost")


@settings(max_examples=500, deadline=None)
@given(text=st.text(max_size=30) | st.sampled_from(["H=²", "H=١٢٣", "H=٣,W=4", "H=𝟙𝟚", "H=1_0"]))
def test_at_is_ascii_name_size_pairs_or_one_line(text):
    try:
        values = cli._parse_at(text)
    except CnnCostError as exc:
        assert "\n" not in str(exc).replace(text, "")
    else:
        sizes = [part.partition("=")[2].strip() for part in text.split(",")]
        assert all(size.isascii() and size.isdigit() for size in sizes)
        assert sorted(values.values()) == sorted(int(size) for size in sizes) or len(values) < len(
            sizes
        )  # a name given twice keeps its last size


@pytest.mark.parametrize("at", ["H=²,W=1", "H=١٢٣,W=١٢٣", "H=𝟙,W=1"])
def test_cli_formula_at_with_non_ascii_digits(at):
    command = [CNNCOST] if CNNCOST else [sys.executable, "-m", "cnncost"]
    result = subprocess.run(
        [*command, "formula", SEED, "--at", at], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2 and result.stderr.startswith("cnncost: error: --at expects")
    assert len(result.stderr.splitlines()) == 1


@pytest.fixture
def measured(monkeypatch):
    """calibrate's measurement replaced: the option checks are what is tested."""
    calls = []

    def fake(name, **kwargs):
        calls.append(kwargs)
        return devices.DeviceProfile(name, {"float32": 1e12}, 1e11)

    monkeypatch.setattr(devices, "calibrate_numpy", fake)
    monkeypatch.setattr(devices, "calibrate_keras", fake)
    return calls


_options = st.one_of(
    st.tuples(st.just("--matmul-size"), st.integers(-5, 10**12).map(str) | st.text(max_size=6)),
    st.tuples(st.just("--repeats"), st.integers(-5, 10**12).map(str) | st.text(max_size=6)),
    st.tuples(
        st.just("--dtypes"),
        st.lists(
            st.sampled_from(
                [
                    "float32",
                    "float64",
                    "float16",
                    "bfloat16",
                    "object",
                    "int8",
                    "",
                    " float32",
                    "complex128",
                    "U5",
                ]
            ),
            max_size=3,
        ).map(",".join)
        | st.text(max_size=10),
    ),  # fmt: skip
    st.tuples(st.just("--name"), st.text(max_size=70)),
    st.tuples(st.just("--engine"), st.sampled_from(["numpy", "keras", "jax", ""])),
)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(options=st.lists(_options, min_size=1, max_size=3))
def test_calibrate_options_run_or_stop_in_one_line(tmp_path_factory, capsys, measured, options):
    out = tmp_path_factory.mktemp("calibrate") / "p.json"
    argv = ["calibrate", "--out", str(out)] + [item for pair in options for item in pair]
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse's --help/--version paths only
        code = exc.code
    err = capsys.readouterr().err
    assert code in (0, 2) and len(err.splitlines()) == (0 if code == 0 else 1), err
    if code == 0:
        kwargs = measured[-1]
        assert 1 <= kwargs["matmul_size"] <= cli.MAX_MATMUL_SIZE
        assert 1 <= kwargs["repeats"] <= cli.MAX_REPEATS
        engine = dict(options).get("--engine", "numpy")
        assert set(kwargs.get("dtypes", ())) <= set(cli.CALIBRATE_DTYPES[engine])
        assert out.exists()
    else:
        assert not out.exists()
