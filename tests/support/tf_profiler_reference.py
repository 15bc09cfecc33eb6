"""TensorFlow's own profiler on a Keras model: see `reference_model.tf_flops` (moved there so the
`profile` command can report it too)."""

from reference_model.tf_flops import profiler_flops as profile_model
from reference_model.tf_flops import row_of

__all__ = ["profile_model", "row_of"]
