"""Front ends that turn a model (file or live object) into a `cnncost.ir.Graph`."""

from cnncost.loaders.dispatch import detect_format, load_model_file
from cnncost.loaders.keras_config import graph_from_config
from cnncost.loaders.keras_file import load_keras_file

__all__ = ["detect_format", "graph_from_config", "load_keras_file", "load_model_file"]
