"""The console program in a subprocess: synth, scan, and one-line errors with exit code 2."""

import json

import pytest
from rm_helpers import assert_one_line_error, run_cli


@pytest.mark.parametrize(
    "args, text",
    [
        (("train", "--data", "/no/such/dir", "--out", "/tmp/x"), "no such folder"),
        (("scan", "--data", "/no/such/dir"), "does not exist"),
        (("train", "--data", ".", "--out", "/tmp/x", "--epochs", "0"), "positive integer"),
        (("train", "--out", "/tmp/x", "--strategy", "bogus"), "invalid choice"),
        (("scan", "--data", ".", "--bogus-flag"), "unrecognized arguments"),
        (("predict", "--run", "/tmp", "/no/such/image.jpg"), "no such image"),
        (("evaluate", "--run", "/no/such/run"), "final.keras"),
        (("nope",), "invalid choice"),
        (("scan", "--data", ".", "--seed", "-1"), "the seed must be in 0 .. 2**31 - 1"),
        (("train", "--data", ".", "--out", "/tmp/x", "--seed", str(2**31)), "the seed must be"),
    ],
)
def test_errors_are_one_line_and_exit_2(args, text):
    assert_one_line_error(run_cli(*args), text)


def test_synth_then_scan(tmp_path):
    out = tmp_path / "df"
    proc = run_cli(
        "synth", "--out", str(out), "--classes", "5", "--images-per-class", "4", "--max-size", "64"
    )
    assert proc.returncode == 0, proc.stderr
    assert "wrote 20 images of 5 classes (+4 damaged or missing)" in proc.stdout
    for rel in (
        "Anno/list_category_cloth.txt",
        "Anno/list_category_img.txt",
        "Anno/list_bbox.txt",
        "Eval/list_eval_partition.txt",
    ):
        lines = (out / rel).read_text().splitlines()
        assert int(lines[0]) == len(lines) - 2  # the count line counts the rows
    scan = run_cli("scan", "--data", str(out), "--split", "item", "--json")
    assert scan.returncode == 0, scan.stderr
    summary = json.loads(scan.stdout)
    assert summary["usable"] == 20 and summary["classes"] == 5
    assert sum(summary["skipped"].values()) == 4
    assert {"folder": "Shirt", "official": "Button-Down", "images": 1} in summary[
        "label_disagreements"
    ]
    assert run_cli("scan", "--data", str(tmp_path)).returncode == 2  # no Anno/ folder


def test_resume_without_a_run_is_an_error(tmp_path):
    assert_one_line_error(run_cli("train", "--out", str(tmp_path), "--resume"), "run.json")


def test_scan_applies_fraction(tmp_path, capsys):
    from reference_model.cli import main
    from reference_model.data.synth import SynthSpec, write_synthetic

    write_synthetic(tmp_path, SynthSpec(classes=4, images_per_class=10, max_size=40, min_size=20))
    counts = {}
    for fraction in ("1", "0.5"):
        assert main(["scan", "--data", str(tmp_path), "--split", "item", "--json",
                     "--fraction", fraction]) == 0  # fmt: skip
        counts[fraction] = sum(json.loads(capsys.readouterr().out)["splits"].values())
    assert counts["1"] == 4 * 10
    assert 0 < counts["0.5"] < 4 * 10


def test_synth_into_a_folder_that_cannot_be_made(tmp_path):
    assert_one_line_error(run_cli("synth", "--out", "/proc/nope"), "cannot write the dataset")
    blocker = tmp_path / "file"
    blocker.write_text("")
    proc = run_cli("synth", "--out", str(blocker / "df"))
    assert_one_line_error(proc, f"cannot write the dataset to {blocker / 'df'}")


def test_predict_on_a_folder_without_run_json(tmp_path):
    from PIL import Image

    (tmp_path / "final.keras").write_bytes(b"")  # the check comes first, never loads it
    image = tmp_path / "a.jpg"
    Image.new("RGB", (8, 8)).save(image)
    proc = run_cli("predict", "--run", str(tmp_path), str(image))
    assert_one_line_error(proc, "no run.json")


def test_importing_the_package_and_its_cli_loads_no_tensorflow_or_keras():
    import subprocess
    import sys

    from rm_helpers import REPO, cli_env

    code = (
        "import sys, reference_model, reference_model.cli, reference_model.train, "
        "reference_model.runfolder, reference_model.model, reference_model.data.dataset\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'jax'})\n"
        "print(','.join(heavy))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=cli_env(), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_the_installed_console_script_runs():
    import shutil
    import subprocess

    from rm_helpers import cli_env

    script = shutil.which("reference-model")
    if script is None:
        pytest.skip("the reference-model console script is not installed (pip install -e .)")
    done = subprocess.run(
        [script, "train", "--out", "/nonexistent/run", "--resume"],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert_one_line_error(done, "no run.json")
    assert (
        "usage: reference-model"
        in subprocess.run(
            [script, "--help"], env=cli_env(), capture_output=True, text=True, timeout=120
        ).stdout
    )
