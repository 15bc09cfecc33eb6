"""Analysis passes: pure functions from a `Graph` (and earlier passes' results) to per-node results.

Passes never print and never import keras.
"""
