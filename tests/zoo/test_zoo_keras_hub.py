"""Zoo tier: every vision backbone of keras-hub (small random configs), live and from file.

As for kimm: every row equals Keras's, totals equal `count_params()`, complete; the `.keras`
file is analysed with `trust_model_code=True` (a keras-hub backbone is a Functional subclass).
"""

from __future__ import annotations

import pytest

keras = pytest.importorskip("keras")

from zoo.catalog import KERAS_HUB_MODELS, build_keras_hub  # noqa: E402
from zoo.harness import check_live_and_file  # noqa: E402


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(KERAS_HUB_MODELS))
def test_keras_hub_backbone(tmp_path, name):
    keras.backend.clear_session()
    model = build_keras_hub(name)
    assert type(model).__name__ == KERAS_HUB_MODELS[name][0]
    check_live_and_file(model, tmp_path, name, trust_model_code=True)
