"""`cnncost calibrate` refuses a noisy calibration in one line (exit 2, nothing written) and
stores it flagged with `--accept-noisy`; `report --device` warns about a flagged profile
(issue 16, item 2). The round timings are stored samples injected in place of the clock
(tests/support/stored_rounds): no timing here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cnncost import cli, devices
from cnncost.devices import load_device

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
SEED = REPO / "examples" / "models" / "seed_cnn.keras"
CNNCOST = shutil.which("cnncost")
N = 8  # --matmul-size: 2 * 8^3 FLOPs per matmul

QUIET = {  # 5 rounds each, within a few percent
    "peak_flops.float32": [1.0e-5, 1.02e-5, 1.01e-5, 1.03e-5, 1.0e-5],
    "peak_flops.float64": [2.0e-5, 2.01e-5, 2.02e-5, 2.0e-5, 2.04e-5],
    "bandwidth": [0.05, 0.051, 0.052, 0.05, 0.05],
    "overhead_s": [4e-7, 4.1e-7, 4e-7, 4.2e-7, 4e-7],
}
# the copy's third round slowed 60% by another job: (0.08 - 0.05) / 0.05 = 60% > 25%
BUSY = {**QUIET, "bandwidth": [0.05, 0.051, 0.08, 0.05, 0.05]}


def _calibrate(rounds, *options, tmp_path):
    command = [CNNCOST] if CNNCOST else [sys.executable, "-m", "cnncost"]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "support" / "stored_rounds"), str(REPO)]),
        "CNNCOST_TEST_ROUNDS": json.dumps(rounds),
        "CNNCOST_DEVICES_DIR": str(tmp_path / "devices"),
    }
    return subprocess.run(
        [*command, "calibrate", "--matmul-size", str(N), "--repeats", "5", *options],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=120,
    )  # fmt: skip


def test_quiet_rounds_are_stored_with_their_spread(tmp_path):
    out = tmp_path / "quiet.json"
    done = _calibrate(QUIET, "--out", str(out), tmp_path=tmp_path)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    profile = load_device(str(out))
    assert not profile.noisy
    # the peak is the best round: 2 * 8^3 FLOPs in 1.0e-5 s
    assert profile.peak_flops["float32"] == pytest.approx(2 * 8**3 / 1.0e-5)
    # (1.03 - 1.00) / median 1.01
    assert profile.spread["peak_flops.float32"] == pytest.approx((1.03 - 1.0) / 1.01)
    assert set(profile.spread) == set(QUIET) and profile.measured["rounds"] == 5
    assert "spread (max - min) / median over 5 rounds: peak_flops.float32 3%" in done.stdout


def test_busy_rounds_are_refused_in_one_line_and_nothing_is_written(tmp_path):
    out = tmp_path / "busy.json"
    done = _calibrate(BUSY, "--out", str(out), tmp_path=tmp_path)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("cnncost: error: calibrate: refused")
    assert "bandwidth spread 60% over 5 rounds (limit 25%)" in done.stderr
    assert not out.exists() and done.stdout == ""


def test_accept_noisy_stores_it_flagged_and_report_warns(tmp_path):
    out = tmp_path / "busy.json"
    done = _calibrate(BUSY, "--out", str(out), "--accept-noisy", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("cnncost: warning: stored flagged noisy (--accept-noisy)")
    data = json.loads(out.read_text())
    assert data["noisy"] is True and data["spread"]["bandwidth"] == pytest.approx(0.6)
    assert data["measured"]["noisy_because"] == ["bandwidth spread 60% over 5 rounds (limit 25%)"]
    command = [CNNCOST] if CNNCOST else [sys.executable, "-m", "cnncost"]
    report = subprocess.run(
        [*command, "report", str(SEED), "--device", str(out), "--format", "json"],
        capture_output=True, text=True, cwd=REPO, timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert report.returncode == 0, report.stderr
    details = json.loads(report.stdout)["warning_details"]
    noisy = [d for d in details if d["kind"] == "noisy-device"]
    assert len(noisy) == 1 and "widest spread 60% (bandwidth)" in noisy[0]["message"]


def test_a_quiet_profile_gives_no_noisy_warning():
    import cnncost

    quiet = REPO / "docs" / "validation" / "cpu-keras.device.json"  # from before the spread
    report = cnncost.analyze(SEED, device=str(quiet))
    assert not any("flagged noisy" in w for w in report.warnings)


def test_kinds_are_not_measured_after_a_refusal(monkeypatch, capsys, tmp_path):
    """--kinds: the check runs on the base figures, before minutes of synthetic layers."""
    seen = []

    def fake_keras(name, check=None, **kwargs):
        profile = devices.DeviceProfile(
            name, {"float32": 1e11}, 1e10, measured={"rounds": 5}, spread={"bandwidth": 0.6}
        )
        check(profile)
        seen.append("kinds measured")
        return profile

    monkeypatch.setattr(devices, "calibrate_keras", fake_keras)
    out = tmp_path / "p.json"
    code = cli.main(["calibrate", "--engine", "keras", "--kinds", "--out", str(out)])
    assert code == 2 and seen == [] and not out.exists()
    assert "bandwidth spread 60%" in capsys.readouterr().err
    code = cli.main(
        ["calibrate", "--engine", "keras", "--kinds", "--accept-noisy", "--out", str(out)]
    )
    assert code == 0 and seen == ["kinds measured"] and load_device(str(out)).noisy
