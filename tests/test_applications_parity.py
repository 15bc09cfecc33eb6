"""Acceptance: all 40 keras.applications models and the seed CNN, through both front ends.

Every row's output shape and trainable / non-trainable params equal Keras's, and the totals equal
`model.count_params()`, from a config-only `.keras` file and from the live model.
"""

from __future__ import annotations

import pytest

keras = pytest.importorskip("keras")

from support.keras_reference import assert_parity, write_config_only  # noqa: E402
from support.models import seed_cnn  # noqa: E402

import cnncost  # noqa: E402

APPLICATIONS = sorted(name for name in dir(keras.applications) if name[0].isupper())


def test_there_are_forty_applications():
    assert len(APPLICATIONS) == 40


@pytest.mark.slow
@pytest.mark.parametrize("name", APPLICATIONS)
def test_application_parity(tmp_path, name):
    model = getattr(keras.applications, name)(weights=None)
    path = write_config_only(model, tmp_path / f"{name}.keras")
    assert_parity(cnncost.analyze(path), model)
    assert_parity(cnncost.analyze(model), model)
    keras.backend.clear_session()


def test_seed_cnn_parity(tmp_path):
    model = seed_cnn()
    report = cnncost.analyze(write_config_only(model, tmp_path / "seed.keras"))
    assert_parity(report, model)
    assert report.totals["params"] == 896 + 18_496 + 73_856 + 5_299_246 == 5_392_494
    assert (
        report.totals["macs"]
        == (
            3 * 3 * 3 * 32 * 254 * 254
            + 3 * 3 * 32 * 64 * 125 * 125
            + 3 * 3 * 64 * 128 * 60 * 60
            + 30 * 30 * 128 * 46
        )
        == 614_461_824
    )


def test_shipped_seed_example_is_the_seed_cnn():
    """examples/models/seed_cnn.keras (built by examples/build_models.py) is the seed model."""
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "examples" / "models" / "seed_cnn.keras"
    keras.backend.clear_session()  # fresh layer names, as when the example was built
    assert_parity(cnncost.analyze(path), seed_cnn())
