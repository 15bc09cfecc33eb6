"""Every file a command writes (issue 17, items 5 and 6) goes through `cnncost.outputs`: never
over an input, never over an existing file without `--force`, never a folder or a file of
another type, never a half-written file. Tested over every writing command with the real
console script, and the check itself with hypothesis over arbitrary path strings."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnncost import outputs
from cnncost.errors import CnnCostError
from cnncost.outputs import check_output, check_output_dir, write_output

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "examples" / "models" / "seed_cnn.keras"
CNNCOST = shutil.which("cnncost")
CLAIMS = '[[claim]]\nlayer = "total"\nquantity = "params"\nvalue = 5392494\n'


def _cli(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    command = [CNNCOST] if CNNCOST else [sys.executable, "-m", "cnncost"]
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=120, cwd=cwd, env=env
    )


def _one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("cnncost: error: "), result.stderr
    return lines[0]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def workdir(tmp_path):
    shutil.copy(SEED, tmp_path / "m.keras")
    (tmp_path / "claims.toml").write_text(CLAIMS)
    return tmp_path


# Every command that writes a file: argv for model "m.keras" and output OUT; the exit code of a
# successful run (audit: 0, every claim right); the extension its output needs.
WRITERS = {
    "report": (["report", "m.keras", "--output", "OUT"], ".txt"),
    "report-json": (["report", "m.keras", "--format", "json", "-o", "OUT"], ".json"),
    "diff": (["diff", "m.keras", "m.keras", "--output", "OUT"], ".txt"),
    "formula": (["formula", "m.keras", "--output", "OUT"], ".txt"),
    "suggest": (["suggest", "m.keras", "--target-rf", "300", "--output", "OUT"], ".txt"),
    "audit": (["audit", "m.keras", "claims.toml", "--output", "OUT"], ".txt"),
    "plot": (["plot", "m.keras", "--out", "OUT"], ".png"),
    "calibrate": (["calibrate", "--matmul-size", "8", "--repeats", "1", "--out", "OUT"], ".json"),
}
MODEL_WRITERS = [name for name in WRITERS if name != "calibrate"]


def _argv(name: str, out: str) -> list[str]:
    return [out if a == "OUT" else a for a in WRITERS[name][0]]


@pytest.mark.parametrize("name", MODEL_WRITERS)
def test_an_output_naming_the_input_is_refused_even_with_force(workdir, name):
    before = _digest(workdir / "m.keras")
    for target in ("m.keras", str(workdir / "m.keras"), "./sub/../m.keras"):
        (workdir / "sub").mkdir(exist_ok=True)
        line = _one_line_error(_cli(*_argv(name, target), "--force", cwd=workdir))
        assert "is the input" in line and "refusing to write there" in line, line
    assert _digest(workdir / "m.keras") == before


def test_hard_and_symbolic_links_to_the_input_are_the_input(workdir):
    os.link(workdir / "m.keras", workdir / "hard.keras")
    os.symlink(workdir / "m.keras", workdir / "soft.keras")
    before = _digest(workdir / "m.keras")
    for target in ("hard.keras", "soft.keras"):
        line = _one_line_error(_cli("report", "m.keras", "-o", target, "--force", cwd=workdir))
        assert "is the input" in line
    line = _one_line_error(
        _cli("audit", "m.keras", "claims.toml", "-o", "claims.toml", "--force", cwd=workdir)
    )
    assert "is the input claims.toml" in line
    assert _digest(workdir / "m.keras") == before


def test_an_output_inside_an_input_folder_is_refused(tmp_path):
    folder = tmp_path / "saved"
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(b"\x08\x01")
    assert check_output(tmp_path / "out.txt", inputs=[folder])
    with pytest.raises(CnnCostError, match="lies inside the input"):
        check_output(folder / "variables.txt", inputs=[folder])
    with pytest.raises(CnnCostError, match="is the input"):
        check_output_dir(folder, option="--write", inputs=[folder])


@pytest.mark.parametrize("name", list(WRITERS))
def test_an_existing_file_is_overwritten_only_with_force(workdir, name):
    out = workdir / f"out{WRITERS[name][1]}"
    out.write_text("keep me")
    line = _one_line_error(_cli(*_argv(name, out.name), cwd=workdir))
    assert "exists: pass --force" in line and out.read_text() == "keep me"
    forced = _cli(*_argv(name, out.name), "--force", cwd=workdir)
    assert forced.returncode == 0, forced.stderr
    assert out.read_bytes() != b"keep me" and out.stat().st_size > 0
    assert not [p for p in workdir.iterdir() if p.name.endswith(".tmp")]  # no leftovers


@pytest.mark.parametrize("name", list(WRITERS))
def test_a_folder_or_a_missing_folder_is_refused(workdir, name):
    (workdir / "dir").mkdir()
    line = _one_line_error(_cli(*_argv(name, "dir"), cwd=workdir))
    assert "is a folder" in line
    assert not (workdir / "dir.png").exists()  # plot used to write DIR.png and say "wrote DIR"
    if name != "calibrate":  # calibrate creates its profile folder
        target = f"nowhere/out{WRITERS[name][1]}"
        assert "does not exist" in _one_line_error(_cli(*_argv(name, target), cwd=workdir))


@pytest.mark.parametrize(
    "name, bad", [("plot", "out.txt"), ("plot", "out"), ("calibrate", "x.csv")]
)
def test_an_output_of_another_type_is_refused(workdir, name, bad):
    line = _one_line_error(_cli(*_argv(name, bad), cwd=workdir))
    assert "must end in" in line and not (workdir / bad).exists()


@pytest.mark.slow
def test_plot_writes_the_format_its_name_says(workdir):
    for out, magic in (("p.png", b"\x89PNG"), ("p.svg", b"<?xml"), ("p.pdf", b"%PDF")):
        result = _cli("plot", "m.keras", "--out", out, cwd=workdir)
        assert result.returncode == 0 and result.stdout == f"wrote {out}\n", result.stderr
        assert (workdir / out).read_bytes().startswith(magic)


def test_suggest_write_onto_a_file_or_over_suggestions(workdir):
    (workdir / "afile").write_text("keep")
    line = _one_line_error(
        _cli("suggest", "m.keras", "--target-rf", "300", "--write", "afile", cwd=workdir)
    )
    assert "is a file" in line and (workdir / "afile").read_text() == "keep"
    line = _one_line_error(
        _cli("suggest", "m.keras", "--target-rf", "300", "--write", "afile/sub", cwd=workdir)
    )
    assert "which is a file" in line
    first = _cli("suggest", "m.keras", "--target-rf", "300", "--write", "out", cwd=workdir)
    assert first.returncode == 0, first.stderr
    written = sorted((workdir / "out").iterdir())
    assert written and all(p.suffix == ".keras" for p in written)
    digests = [_digest(p) for p in written]
    written[-1].unlink()  # one missing: still nothing is written without --force
    again = _cli("suggest", "m.keras", "--target-rf", "300", "--write", "out", cwd=workdir)
    assert "exists: pass --force" in _one_line_error(again)
    assert not written[-1].exists() and [_digest(p) for p in written[:-1]] == digests[:-1]
    forced = _cli(
        "suggest", "m.keras", "--target-rf", "300", "--write", "out", "--force", cwd=workdir
    )
    assert forced.returncode == 0 and written[-1].exists(), forced.stderr


def test_calibrate_default_path_is_checked(workdir):
    env = {**os.environ, "CNNCOST_DEVICES_DIR": str(workdir / "claims.toml")}  # a file
    line = _one_line_error(
        _cli("calibrate", "--matmul-size", "8", "--repeats", "1", cwd=workdir, env=env)
    )
    assert "is not a folder" in line
    env["CNNCOST_DEVICES_DIR"] = str(workdir / "devices")
    args = ("calibrate", "--name", "box", "--matmul-size", "8", "--repeats", "1")
    assert _cli(*args, cwd=workdir, env=env).returncode == 0
    profile = workdir / "devices" / "box.json"
    before = _digest(profile)
    assert "exists: pass --force" in _one_line_error(_cli(*args, cwd=workdir, env=env))
    assert _digest(profile) == before
    assert _cli(*args, "--force", cwd=workdir, env=env).returncode == 0


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--matmul-size", "10000000", "at most"),
        ("--repeats", "100000000", "at most"),
        ("--dtypes", "object", "--dtypes"),
        ("--dtypes", "float32,float32", "each once"),
        ("--dtypes", "float32,", "--dtypes"),
        ("--name", "../escape", "a profile name"),
        ("--name", "", "a profile name"),
    ],
)
def test_calibrate_options_are_checked_before_measuring(workdir, option, value, message):
    from cnncost.cli import main

    assert main(["calibrate", option, value, "--out", str(workdir / "p.json")]) == 2
    assert not (workdir / "p.json").exists()
    line = _one_line_error(_cli("calibrate", option, value, "--out", "p.json", cwd=workdir))
    assert message in line


# -- the helper itself ----------------------------------------------------------------------------

_path_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="./-_ab\0\n\\~", max_size=30),
    st.just("x" * 5000),
    st.sampled_from(["", " ", ".", "..", "/", "-", "m.keras", "./m.keras", "dir", "dir/", "f/x"]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=_path_text, force=st.booleans(), suffix=st.sampled_from([None, (".png",)]))
def test_any_path_string_is_accepted_or_refused_in_one_line(tmp_path_factory, text, force, suffix):
    folder = tmp_path_factory.mktemp("paths")
    (folder / "m.keras").write_bytes(b"model")
    (folder / "dir").mkdir()
    (folder / "f").write_text("a file")
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        try:
            path = check_output(text, inputs=["m.keras"], force=force, suffixes=suffix)
        except CnnCostError as exc:
            assert "\n" not in str(exc) and str(exc)
        else:
            assert not path.is_dir() and path.resolve() != (folder / "m.keras").resolve()
            assert force or not path.exists()
            write_output(path, "out", force=force)
            assert path.read_text() == "out"
        assert (folder / "m.keras").read_bytes() == b"model"
    finally:
        os.chdir(cwd)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "out.txt"
    target.write_text("old")

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(outputs.os, "replace", full_disk)
    with pytest.raises(CnnCostError, match="cannot write .*No space left on device"):
        write_output(target, "new", force=True)
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]


def test_a_file_that_appears_after_the_check_is_not_overwritten(tmp_path):
    target = check_output(tmp_path / "out.txt")
    target.write_text("someone else's")
    with pytest.raises(CnnCostError, match="exists: pass --force"):
        write_output(target, "ours")
    assert target.read_text() == "someone else's" and list(tmp_path.iterdir()) == [target]


def test_devices_and_fifos_are_written_in_place(tmp_path):
    assert write_output(os.devnull, "discarded") == Path(os.devnull)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(CnnCostError, match="a FIFO with no reader"):
        write_output(check_output(fifo), "nobody reads")  # an error, not a hang


def test_new_files_get_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        path = write_output(tmp_path / "out.txt", "x")
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644
