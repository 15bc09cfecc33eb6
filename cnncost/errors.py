"""User-facing errors: each one is printed as a single line by the CLI (exit code 2)."""

# The longest message an error prints: a hostile value quoted in a message (a 10 MB padding
# string) is cut here, whichever check quoted it (docs/limits.md).
MAX_MESSAGE_CHARS = 2000


class CnnCostError(Exception):
    """A problem with the user's input that we can explain in one line."""

    def __str__(self) -> str:
        text = super().__str__()
        if len(text) <= MAX_MESSAGE_CHARS:
            return text
        return f"{text[: MAX_MESSAGE_CHARS - 40]}... ({len(text)} characters, cut)"


class ModelFileError(CnnCostError):
    """The model file cannot be read or is not a Keras model."""


class ModelConfigError(CnnCostError):
    """The model configuration is malformed (bad graph, bad field, impossible shapes)."""


class LayerError(CnnCostError):
    """A layer's configuration does not fit its inputs (e.g. a kernel larger than its input)."""


class PluginError(CnnCostError):
    """A plugin cannot be loaded, or its rule failed or returned something malformed."""
