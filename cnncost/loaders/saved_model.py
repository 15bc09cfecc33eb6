"""Read a TensorFlow SavedModel folder written by Keras 2's `model.save(dir)`.

Keras 2 stores every layer's config, as JSON, in `keras_metadata.pb` (a `SavedMetadata` protocol
buffer: one `SavedObject` per Keras object, the model itself at `node_path == "root"`). We parse
that message with `protobuf` from a schema declared here (field numbers of tf-keras's
`saved_metadata.proto`), read the root's JSON and convert its Keras 2 config to the Keras 3 form.
TensorFlow is not imported; the graph in `saved_model.pb` and the variables are never loaded,
and nothing is executed.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

from cnncost.errors import ModelFileError
from cnncost.ir import Graph
from cnncost.limits import MAX_CONFIG_BYTES, MAX_ROWS, loads_json, read_capped
from cnncost.loaders.keras2 import normalize_config
from cnncost.loaders.keras_config import graph_from_config

METADATA_FILE = "keras_metadata.pb"
GRAPH_FILE = "saved_model.pb"
# keras_metadata.pb holds one JSON blob per layer (the model's config appears in the root's and
# again per nested model): a few times the size of the config itself.
MAX_METADATA_BYTES = 4 * MAX_CONFIG_BYTES
# Identifiers tf-keras gives the root object (`keras/saving/legacy/saved_model/constants.py`).
NETWORK_IDENTIFIERS = {"_tf_keras_network", "_tf_keras_sequential"}
SUBCLASSED_IDENTIFIER = "_tf_keras_model"


def is_saved_model(path: Path) -> bool:
    # lexists: a part that is a FIFO or a link to a device still marks the folder (and is then
    # refused by the capped reader, not taken for "no SavedModel here").
    return path.is_dir() and any(os.path.lexists(path / f) for f in (GRAPH_FILE, METADATA_FILE))


@cache
def _saved_metadata_class():
    """The `SavedMetadata` message class, declared in a private descriptor pool."""
    try:
        from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    except ImportError:
        raise ModelFileError(
            "reading SavedModel folders needs protobuf: pip install 'cnncost[legacy]'"
        ) from None
    field = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(
        name="cnncost/saved_metadata.proto", package="cnncost.saved_metadata", syntax="proto3"
    )
    saved_object = proto.message_type.add(name="SavedObject")
    for name, number in (("node_path", 3), ("identifier", 4), ("metadata", 5)):
        saved_object.field.add(
            name=name, number=number, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL
        )
    saved_object.field.add(
        name="node_id", number=2, type=field.TYPE_INT32, label=field.LABEL_OPTIONAL
    )
    metadata = proto.message_type.add(name="SavedMetadata")
    metadata.field.add(
        name="nodes",
        number=1,
        type=field.TYPE_MESSAGE,
        label=field.LABEL_REPEATED,
        type_name=".cnncost.saved_metadata.SavedObject",
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName("cnncost.saved_metadata.SavedMetadata")
    )


def _read_metadata(path: Path) -> bytes:
    metadata_path = path / METADATA_FILE
    if not os.path.lexists(metadata_path):
        raise ModelFileError(
            f"{path}: a SavedModel without {METADATA_FILE} (written by tf.saved_model.save or "
            "model.export, not Keras's model.save): it holds no layer configuration"
        )
    return read_capped(metadata_path, MAX_METADATA_BYTES, "SavedModel part")


# Objects in keras_metadata.pb: Keras 2 writes one per layer, model and metric (a few per row).
# Counted before protobuf parses the message: an empty object is 2 bytes on disk but ~80 bytes
# parsed, so 16 MiB of them would be 8M objects and 700 MB.
MAX_METADATA_OBJECTS = 4 * MAX_ROWS


def _varint(data: bytes, offset: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if offset >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, offset
        shift += 7


def _count_objects(data: bytes, path: Path) -> None:
    """Walk the top-level fields of the SavedMetadata message (only skipping over each one),
    refusing more than MAX_METADATA_OBJECTS; a malformed message is left to protobuf."""
    offset = count = 0
    try:
        while offset < len(data):
            tag, offset = _varint(data, offset)
            wire = tag & 7
            if wire == 0:
                _, offset = _varint(data, offset)
            elif wire == 1:
                offset += 8
            elif wire == 2:
                length, offset = _varint(data, offset)
                offset += length
            elif wire == 5:
                offset += 4
            else:
                return
            count += 1
            if count > MAX_METADATA_OBJECTS:
                raise ModelFileError(
                    f"{path}: {METADATA_FILE} holds more than {MAX_METADATA_OBJECTS} objects, "
                    "above cnncost's cap (docs/limits.md)"
                )
    except ValueError:
        return


def read_saved_model_config(path: str | Path) -> dict[str, Any]:
    """The root model's config ({"class_name", "config"}) from a Keras 2 SavedModel folder."""
    path = Path(path)
    data = _read_metadata(path)
    _count_objects(data, path)
    message = _saved_metadata_class()()
    try:
        from google.protobuf.message import DecodeError

        message.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError):
        raise ModelFileError(f"{path}: {METADATA_FILE} is not a valid protocol buffer") from None
    roots = [node for node in message.nodes if node.node_path == "root"]
    if not roots:
        raise ModelFileError(f"{path}: {METADATA_FILE} has no root object")
    root = roots[0]
    if root.identifier == SUBCLASSED_IDENTIFIER:
        raise ModelFileError(
            f"{path}: a subclassed Keras model: its layers are Python code, not a configuration "
            "(rebuild it as a Functional or Sequential model)"
        )
    if root.identifier not in NETWORK_IDENTIFIERS:
        raise ModelFileError(f"{path}: the root object is a {root.identifier!r}, not a Keras model")
    metadata = loads_json(root.metadata, f"{path}: the root metadata")
    if not isinstance(metadata, dict) or "config" not in metadata:
        raise ModelFileError(f"{path}: the root metadata holds no model configuration")
    return {"class_name": metadata.get("class_name"), "config": metadata["config"]}


def load_saved_model(path: str | Path) -> Graph:
    config = read_saved_model_config(path)
    return graph_from_config(normalize_config(config), source=str(path))
