"""Read a full-model HDF5 file (`model.save("x.h5")`) written by Keras 1, Keras 2 (tf.keras /
tf-keras) or Keras 3: only its `model_config` attribute, never the weights.

The file is untrusted. HDF5 attributes are plain data: we read one string attribute (its size
checked first where HDF5 declares it), parse it as JSON, and convert a Keras 2 config to the
Keras 3 form (`cnncost.loaders.keras2`). Nothing is unpickled or executed. h5py is imported here
only (the `legacy` extra).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cnncost.errors import ModelFileError
from cnncost.ir import Graph
from cnncost.limits import MAX_CONFIG_BYTES, check_regular, loads_json
from cnncost.loaders.keras2 import normalize_config
from cnncost.loaders.keras_config import graph_from_config

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# HDF5 puts its signature at 0 or, after a user block, at 512, 1024, 2048, ... bytes.
SIGNATURE_OFFSETS = (0, 512, 1024, 2048, 4096, 8192)


def is_hdf5(path: Path) -> bool:
    try:
        check_regular(path)
    except ModelFileError:
        return False
    try:
        with open(path, "rb") as stream:
            for offset in SIGNATURE_OFFSETS:
                stream.seek(offset)
                if stream.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE:
                    return True
    except OSError:
        return False
    return False


def _h5py():
    try:
        import h5py
    except ImportError:
        raise ModelFileError(
            "reading .h5 files needs h5py: pip install 'cnncost[legacy]'"
        ) from None
    return h5py


def _attribute_text(h5py, handle, path: Path) -> str | None:
    """The `model_config` attribute as text, or None when the file has none."""
    if "model_config" not in handle.attrs:
        return None
    attribute = h5py.h5a.open(handle.id, b"model_config")
    kind = attribute.get_type()
    if not isinstance(kind, h5py.h5t.TypeStringID):  # a number, an array, an opaque blob, ...
        raise ModelFileError(f"{path}: model_config is not a string attribute")
    if not kind.is_variable_str():
        # A fixed-length string: HDF5 knows its size before we read it.
        if attribute.get_storage_size() > MAX_CONFIG_BYTES:
            raise ModelFileError(f"{path}: model_config is larger than {MAX_CONFIG_BYTES} bytes")
    # A variable-length string lives in the file's heap: it is no larger than the file.
    value = handle.attrs["model_config"]
    if hasattr(value, "tolist") and not isinstance(value, (bytes, str)):
        value = value.tolist()
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    if not isinstance(value, str):
        raise ModelFileError(f"{path}: model_config is not a string attribute")
    if len(value) > MAX_CONFIG_BYTES:
        raise ModelFileError(f"{path}: model_config is larger than {MAX_CONFIG_BYTES} bytes")
    return value


def read_h5_config(path: str | Path) -> tuple[Any, str]:
    """(parsed model_config, keras_version attribute or "") from a full-model .h5 file."""
    path = Path(path)
    check_regular(path, ".h5 file")
    h5py = _h5py()
    try:
        with h5py.File(path, "r") as handle:
            text = _attribute_text(h5py, handle, path)
            if text is None:
                if "model_weights" in handle or "layer_names" in handle.attrs:
                    raise ModelFileError(
                        f"{path}: holds weights only (no model_config): save the model with "
                        "model.save(), not save_weights()"
                    )
                raise ModelFileError(
                    f"{path}: an HDF5 file but not a Keras model (no model_config)"
                )
            version = handle.attrs.get("keras_version", "")
    except (OSError, RuntimeError, KeyError, ValueError, TypeError):
        # HDF5's own messages are long, multi-line and version-dependent.
        raise ModelFileError(
            f"{path}: cannot read the HDF5 file (truncated or corrupted)"
        ) from None
    except UnicodeDecodeError:
        raise ModelFileError(f"{path}: model_config is not UTF-8 text") from None
    config = loads_json(text, f"{path}: model_config")
    if isinstance(version, bytes):
        version = version.decode("utf-8", "replace")
    return config, version if isinstance(version, str) else ""


def load_h5_file(path: str | Path) -> Graph:
    config, _version = read_h5_config(path)
    return graph_from_config(normalize_config(config), source=str(path))
