"""Pick the loader for a model path by its content, not its name.

- a zip archive (`PK` magic): a Keras 3 `.keras` file;
- an HDF5 file (its signature at 0 or after a user block): a full-model `.h5` file;
- a folder with `saved_model.pb` / `keras_metadata.pb`: a Keras 2 SavedModel
  (`saved_model.pb` itself is accepted for its folder);
- a file starting with `{`: a bare model config (`model.to_json()`, or a `config.json`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cnncost.errors import ModelFileError
from cnncost.ir import Graph
from cnncost.limits import MAX_CONFIG_BYTES, loads_json, open_regular, read_capped

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def detect_format(path: str | Path) -> str:
    """One of "keras", "h5", "saved_model", "json"; raises `ModelFileError` otherwise."""
    from cnncost.loaders.keras_h5 import is_hdf5
    from cnncost.loaders.saved_model import GRAPH_FILE, is_saved_model

    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"{path}: no such file or directory")
    if path.is_dir():
        if is_saved_model(path):
            return "saved_model"
        raise ModelFileError(
            f"{path}: a directory, but not a SavedModel folder (no {GRAPH_FILE} inside)"
        )
    if path.name == GRAPH_FILE and is_saved_model(path.parent):
        return "saved_model"
    # A FIFO, /dev/zero or a device (or a link to one) is refused before it is opened.
    with open_regular(path, "model file") as stream:
        try:
            head = stream.read(64)
        except OSError as exc:
            raise ModelFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not head:
        raise ModelFileError(f"{path}: the file is empty")
    if head.startswith(ZIP_MAGIC):
        return "keras"
    if is_hdf5(path):
        return "h5"
    if head.lstrip().startswith(b"{"):
        return "json"
    if path.suffix == ".keras":
        raise ModelFileError(f"{path}: not a .keras file (not a zip archive)")
    if path.suffix in (".h5", ".hdf5"):
        raise ModelFileError(f"{path}: not an HDF5 file")
    raise ModelFileError(
        f"{path}: not a Keras model (not a .keras zip, an HDF5 .h5 file, a SavedModel folder "
        "or a JSON model config)"
    )


def _load_json(path: Path, trust_model_code: bool = False, input_shape: Any = None) -> Graph:
    from cnncost.loaders.keras2 import normalize_config
    from cnncost.loaders.keras_build import graph_from_code_built
    from cnncost.loaders.keras_config import graph_from_config

    config = loads_json(read_capped(path, MAX_CONFIG_BYTES, "model file"), str(path))
    built = graph_from_code_built(config, str(path), trust_model_code, input_shape)
    if built is not None:
        return built
    return graph_from_config(normalize_config(config), source=str(path))


def load_model_file(
    path: str | Path, trust_model_code: bool = False, input_shape: Any = None
) -> Graph:
    """A `Graph` from any model file or folder cnncost reads (see the module docstring).

    `trust_model_code` lets a `.keras` or JSON config that names a model class only its own code
    can build (a Functional subclass, a subclassed model) be built by Keras (`keras_build`);
    `input_shape` is then used if that model must be traced and was saved unbuilt."""
    path = Path(path)
    kind = detect_format(path)
    if kind == "keras":
        from cnncost.loaders.keras_file import load_keras_file

        return load_keras_file(path, trust_model_code, input_shape)
    if kind == "h5":
        from cnncost.loaders.keras_h5 import load_h5_file

        return load_h5_file(path)
    if kind == "saved_model":
        from cnncost.loaders.saved_model import load_saved_model

        return load_saved_model(path if path.is_dir() else path.parent)
    return _load_json(path, trust_model_code, input_shape)
