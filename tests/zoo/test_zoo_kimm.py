"""Zoo tier: every kimm model (random weights, 64 px), live and from its `.keras` file.

Each model's rows (shapes, trainable and non-trainable params) equal Keras's, its totals equal
`count_params()`, and no row is unknown (`complete`). kimm models are Functional subclasses, so
the file is analysed with the opt-in flag `trust_model_code=True`.
"""

from __future__ import annotations

import pytest

keras = pytest.importorskip("keras")

from zoo.catalog import KIMM_ZOO, build_kimm  # noqa: E402
from zoo.harness import check_live_and_file  # noqa: E402


@pytest.mark.slow
@pytest.mark.parametrize("name", KIMM_ZOO)
def test_kimm_model(tmp_path, name):
    keras.backend.clear_session()
    check_live_and_file(build_kimm(name), tmp_path, name, trust_model_code=True)
