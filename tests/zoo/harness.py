"""Run a zoo model through cnncost live and from its `.keras` file; report both failures."""

from __future__ import annotations

import importlib
import json
import zipfile
from pathlib import Path

from support.keras_reference import write_config_only
from zoo.reference import assert_partial_parity, assert_zoo_parity

import cnncost


def _outcome(way: str, run, model, blocked_by: frozenset[str] = frozenset()) -> str | None:
    try:
        report = run()
        if blocked_by:
            assert_partial_parity(report, model, blocked_by)
        else:
            assert_zoo_parity(report, model)
    except Exception as error:  # noqa: BLE001 - both ways are reported, then the test fails
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        return f"{way}: {type(error).__name__}: {first[:600]}"
    return None


def model_from_file(path: Path):
    """The model Keras itself builds from a `.keras` file's config.json (no weights needed),
    in a cleared session: the reference for analysing that file. A subclass model's file holds
    constructor arguments, and Keras's automatic layer names (`conv2d_8`, ...) depend on the
    order layers are created in, which need not be the order the original model was built in;
    Keras's own round trip is what the file means."""
    import keras

    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
    keras.backend.clear_session()
    # A class Keras cannot find by its registered name (kimm's models) is looked up in the
    # module the config names, as `trust_model_code` does.
    custom = {}
    module = config.get("module") or ""
    if module and not module.startswith("keras"):
        custom[config["class_name"]] = getattr(
            importlib.import_module(module), config["class_name"]
        )
    return keras.saving.deserialize_keras_object(config, custom_objects=custom)


def check_live_and_file(
    model,
    folder: Path,
    name: str,
    *,
    trust_model_code: bool,
    blocked_by: frozenset[str] = frozenset(),
    input_shape=None,
) -> None:
    """Live (`cnncost.analyze(model)`) against the model, and from a config-only `.keras` file
    (with the opt-in flag for a model whose class is a package's Functional subclass) against
    the model Keras builds from that file; both must be complete, or, for a model listed as
    blocked by some classes, incomplete by exactly those and right wherever a value is given.
    `input_shape`: given to both analyses (sizes the model leaves unknown)."""
    import keras

    path = write_config_only(model, folder / f"{name}.keras")
    options = {"trust_model_code": True} if trust_model_code else {}
    if input_shape is not None:  # sizes the model leaves unknown (SAM's prompt count)
        options["input_shape"] = input_shape
    live = {k: v for k, v in options.items() if k == "input_shape"}
    failures = [_outcome("live", lambda: cnncost.analyze(model, **live), model, blocked_by)]
    reference = model_from_file(path)
    if reference.count_params() != model.count_params():
        failures.append("file: Keras's own round trip changes count_params()")
    # cnncost builds the model from the file in a session cleared the same way (as in a fresh
    # process, where a user analyses the file), so automatic names match the reference's.
    keras.backend.clear_session()
    failures.append(
        _outcome("file", lambda: cnncost.analyze(path, **options), reference, blocked_by)
    )
    failures = [f for f in failures if f]
    assert not failures, "\n".join(failures)
