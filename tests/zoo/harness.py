"""Run a zoo model through cnncost live and from its `.keras` file; report both failures."""

from __future__ import annotations

from pathlib import Path

from support.keras_reference import write_config_only
from zoo.reference import assert_zoo_parity

import cnncost


def _outcome(way: str, run, model) -> str | None:
    try:
        assert_zoo_parity(run(), model)
    except Exception as error:  # noqa: BLE001 - both ways are reported, then the test fails
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        return f"{way}: {type(error).__name__}: {first[:600]}"
    return None


def check_live_and_file(model, folder: Path, name: str, *, trust_model_code: bool) -> None:
    """Live (`cnncost.analyze(model)`) and from a config-only `.keras` file (with the opt-in
    flag for a model whose class is a package's Functional subclass), both against Keras."""
    import keras

    path = write_config_only(model, folder / f"{name}.keras")
    options = {"trust_model_code": True} if trust_model_code else {}
    failures = [_outcome("live", lambda: cnncost.analyze(model), model)]
    # Building the model from its file must give the layers the names they have in the file's
    # model: as in a fresh process, where a user analyses the file, Keras's automatic names
    # (`input_layer`, `rescaling`, ...) restart from scratch. The model was built in a fresh
    # session too (the tests clear it first).
    keras.backend.clear_session()
    failures.append(_outcome("file", lambda: cnncost.analyze(path, **options), model))
    failures = [f for f in failures if f]
    assert not failures, "\n".join(failures)
