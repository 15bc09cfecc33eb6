"""The zoo lists every model of the packages (checked against their own registries), and
installing the zoo packages kept the pinned TensorFlow and Keras."""

from __future__ import annotations

from importlib import metadata

import pytest
from zoo.catalog import (
    KERAS_HUB_MODELS,
    KERAS_HUB_NOT_VISION,
    KIMM_DOES_NOT_BUILD,
    KIMM_MODELS,
    KIMM_ZOO,
)


def _installed(name: str) -> bool:
    try:
        metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return False
    return True


def test_pinned_tensorflow_and_keras_are_the_only_ones():
    """keras-hub requires tensorflow-text, which requires `tensorflow` (a second TensorFlow):
    the README installs keras-hub with --no-deps, so neither is installed."""
    assert metadata.version("keras") == "3.15.1"
    assert metadata.version("tensorflow-cpu") == "2.21.0"
    assert not _installed("tensorflow"), "a second TensorFlow (`tensorflow`) is installed"
    assert not _installed("tensorflow-text")


@pytest.mark.slow
def test_kimm_catalog_is_kimm_registry():
    import kimm

    assert list(KIMM_MODELS) == list(kimm.list_models())
    assert set(KIMM_DOES_NOT_BUILD) <= set(KIMM_MODELS)
    assert len(KIMM_ZOO) == len(KIMM_MODELS) - len(KIMM_DOES_NOT_BUILD)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(KIMM_DOES_NOT_BUILD))
def test_kimm_models_left_out_still_do_not_build(name):
    import keras
    import kimm

    keras.backend.clear_session()
    with pytest.raises(Exception):  # noqa: B017 - whatever kimm raises; see KIMM_DOES_NOT_BUILD
        getattr(kimm.models, name)(input_shape=(64, 64, 3), weights=None)


@pytest.mark.slow
def test_keras_hub_catalog_names_every_backbone_class():
    import keras_hub

    exported = {
        name
        for name in dir(keras_hub.models)
        if isinstance(getattr(keras_hub.models, name), type)
        and issubclass(getattr(keras_hub.models, name), keras_hub.models.Backbone)
    }
    in_zoo = {cls for cls, _ in KERAS_HUB_MODELS.values()}
    assert not in_zoo & set(KERAS_HUB_NOT_VISION)
    assert in_zoo | set(KERAS_HUB_NOT_VISION) == exported, (
        "unlisted: " + str(sorted(exported - in_zoo - set(KERAS_HUB_NOT_VISION))),
        "not exported: " + str(sorted((in_zoo | set(KERAS_HUB_NOT_VISION)) - exported)),
    )
