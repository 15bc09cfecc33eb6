"""Front ends that turn a model (file or live object) into a `cnncost.ir.Graph`."""

from cnncost.loaders.keras_config import graph_from_config
from cnncost.loaders.keras_file import load_keras_file

__all__ = ["graph_from_config", "load_keras_file"]
