"""Suggestions: what-if edits of a model, each evaluated exactly.

Every suggestion is an edit of the model's *Keras config* (the JSON Keras itself reads); the same
edit applied to the parsed graph is evaluated incrementally (`incremental`: per-node results
memoised on their input shapes, equal to a full re-analysis), so the numbers are exact for the
edited model and the edited config can be written out as a `.keras` Keras loads. Edits:

- receptive field (`--target-rf N`): 2x2 max pooling, stride 2, dilation 2/4, an extra 3x3 conv
  block; combinations of up to 3 edits of mixed kinds, found by a beam search and ranked by the
  "least change" objective, with a small Pareto set (`search`);
- FLOP / param budgets (`--max-flops`, `--max-params`): the largest input size, with the same
  aspect ratio, that fits, and the RF-to-input ratio it implies (`families`);
- Flatten + Dense -> GlobalAveragePooling + Dense where the dense layer holds most params;
- diagnostics: unproductive layers, dead compute, misaligned merges.

Modules, each importing only those above it: `config_edit` (Keras config surgery), `results`
(metrics, suggestions), `incremental` (graph edits + exact incremental evaluation), `context`,
`search` and `families` (the advice), `core` (`suggest`, `write_suggestions`).
"""

from cnncost.advise.config_edit import ModelConfig, load_model_config, write_keras
from cnncost.advise.core import suggest, write_suggestions
from cnncost.advise.results import Advice, Metrics, Suggestion, analyse_config, metrics

__all__ = [
    "Advice",
    "Metrics",
    "ModelConfig",
    "Suggestion",
    "analyse_config",
    "load_model_config",
    "metrics",
    "suggest",
    "write_keras",
    "write_suggestions",
]
