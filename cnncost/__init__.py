"""cnncost: exact per-layer cost of Keras CNNs.

`import cnncost` stays light: keras, tensorflow, sympy and pandas are imported only by the
functions that need them.
"""

__version__ = "0.1.0"


def analyze(model, input_shape=None, **options):
    """Analyse a `.keras` path or a live `keras.Model`; returns a `cnncost.report.Report`."""
    from cnncost.analysis import analyze as _analyze

    return _analyze(model, input_shape=input_shape, **options)


__all__ = ["__version__", "analyze"]
