"""cnncost: exact per-layer cost of Keras CNNs.

`import cnncost` stays light: keras, tensorflow, sympy and pandas are imported only by the
functions that need them, and `cnncost.analyze` (`cnncost.analysis.analyze`, with its full
signature and docstring for `help`) is imported on first use.
"""

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "analyze":
        from cnncost.analysis import analyze

        return analyze
    raise AttributeError(f"module 'cnncost' has no attribute {name!r}")


__all__ = ["__version__", "analyze"]
