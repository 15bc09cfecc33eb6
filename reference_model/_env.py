"""Process-wide defaults that must be set before Keras is first imported."""

import os


def set_backend_default() -> None:
    # Keras reads KERAS_BACKEND once, on first import; only fill it in when the user has not
    # chosen, so `KERAS_BACKEND=jax reference-model ...` still means what it says.
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    # TensorFlow's C++ start-up chatter drowns the progress bars; errors still show.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
