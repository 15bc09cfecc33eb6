"""`suggest`: every applicable suggestion for a model, and writing the edits as files.

Layers (each imports only those before it): config_edit (Keras config surgery) -> results
(metrics, suggestions) -> incremental (graph edits, exact incremental evaluation) -> context ->
search (the receptive-field search and its objective) and families (the other advice) -> core.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cnncost.advise import families
from cnncost.advise.config_edit import load_model_config, write_keras
from cnncost.advise.context import make_context, refit_nested
from cnncost.advise.results import Advice, Suggestion, _local_rf
from cnncost.advise.search import (
    MAX_EDITS,
    OBJECTIVE,
    Option,
    apply_to_config,
    candidate_edits,
    search,
)
from cnncost.analysis import Options
from cnncost.errors import CnnCostError


def _check_positive(name: str, value: Any) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
        raise CnnCostError(f"{name} must be a positive integer, not {value!r}")


def suggest(
    model: Any,
    target_rf: int | None = None,
    max_flops: int | None = None,
    max_params: int | None = None,
    options: Options | None = None,
) -> Advice:
    """Every applicable suggestion for `model` (see the package docstring)."""
    options = options or Options()
    _check_positive("target RF", target_rf)
    _check_positive("max FLOPs", max_flops)
    _check_positive("max params", max_params)
    model_config = load_model_config(model)
    context = make_context(model_config, options)
    before = context.before
    suggestions: list[Suggestion] = []
    notes: list[str] = []
    objective = None
    evaluated = 0
    if target_rf is not None:
        if before.rf is not None and min(before.rf) >= target_rf:
            notes.append(f"the receptive field {before.rf} already reaches {target_rf}")
        else:
            objective = OBJECTIVE
            found, evaluated = _target_rf(context, target_rf)
            suggestions.extend(found)
    if max_flops is not None or max_params is not None:
        found = families.resize_input(context, max_flops, max_params)
        if found is not None:
            suggestions.append(found)
    suggestions.extend(families.global_pooling(context))
    suggestions.extend(families.unproductive(context))
    suggestions.extend(families.dead_compute(context))
    suggestions.extend(families.misaligned(context))
    suggestions = [_refit(s, context) for s in suggestions]
    nested = sorted({row.name.split("/")[0] for row in context.report.layers if "/" in row.name})
    if nested and (target_rf is not None or suggestions):
        notes.append(
            f"layers inside nested models ({', '.join(nested[:3])}{', ...' if len(nested) > 3 else ''}) "
            "are not edited: they live in the nested model's own config; edits go between them"
        )
    return Advice(
        model_config, options, before, tuple(suggestions), tuple(notes), objective, evaluated
    )


def _refit(suggestion: Suggestion, context) -> Suggestion:
    if suggestion.config is None:
        return suggestion
    from dataclasses import replace

    config = refit_nested(suggestion.config, context, suggestion.kind == "resize-input")
    return replace(suggestion, config=config)


def _target_rf(context, target: int) -> tuple[list[Suggestion], int]:
    rank = context.rank
    configs = {row.name: context.layer_config(row.name) for row in context.windows()}
    positions = context.insert_positions()
    edits = candidate_edits(context.windows(), configs, rank, positions)
    if not edits:
        return [], 0
    name = context.report.inputs[0].name
    stages = {  # the jump at each edited layer before the edit: its stage
        row.name: tuple(_local_rf(row.extra["receptive_field"].get(name))["jump"])
        for row in (*context.windows(), *positions)
    }
    result = search(context.evaluator, context.graph, context.before, edits, target, rank, stages)
    shown = []
    for number, option in enumerate(result.shown, 1):
        config = apply_to_config(option.edits, context.model.config, rank)
        shown.append(_option_suggestion(context, option, number, target, result.evaluated, config))
    return shown, result.evaluated


def _option_suggestion(context, option: Option, number, target, evaluated, config) -> Suggestion:
    labels = ", ".join(edit.label for edit in option.edits)
    rf = "x".join(map(str, option.metrics.rf))
    count = len(option.edits)
    noun = {
        "insert-pooling": "insert pooling",
        "raise-stride": "raise stride",
        "add-dilation": "add dilation",
        "add-conv": "add conv blocks" if count > 1 else "add a conv block",
        "add-stage": "add stages" if count > 1 else "add a stage",
        "mixed": "mixed edits",
    }[option.family]
    if option.met:
        why = "least change" if number == 1 else "Pareto-optimal in RF, FLOPs and final resolution"
        detail = (
            f"{labels}: reaches RF {rf} (target {target}); option {number} by {why} of the "
            f"{evaluated} combinations of up to {MAX_EDITS} edits evaluated"
        )
        if option.held_back:
            detail += f" (every option that reaches the target has a drawback: {option.held_back})"
    else:
        detail = (
            f"no combination of up to {MAX_EDITS} edits ({evaluated} evaluated) reaches RF "
            f"{target}; the closest, {labels}, gives RF {rf}"
        )
    ranking = {
        "rank": number,
        "objective": OBJECTIVE["name"],
        "score": round(option.score, 4),
        "terms": {k: round(v, 4) for k, v in option.terms.items()},
        "edits": [edit.label for edit in option.edits],
        "held_back": option.held_back,
    }
    return Suggestion(
        option.family,
        f"{noun} ({count} edit{'s' if count > 1 else ''})",
        detail,
        config,
        None,
        context.before,
        option.metrics,
        option.met,
        ranking,
    )


def write_suggestions(
    advice: Advice,
    directory: str | Path,
    weights: bool = False,
    force: bool = False,
    inputs: tuple = (),
) -> list[Path]:
    """Each editable suggestion as `<model>-<n>-<kind>.keras` in `directory`: config only, or
    with `weights` a complete file with freshly initialised weights (`config_edit.write_keras`).
    Every path is checked before the first is written (`cnncost.outputs`: never an input, never
    an existing file without `force`, never into a file)."""
    from cnncost.outputs import check_output, check_output_dir

    inputs = (*inputs, *([advice.model.source] if Path(advice.model.source).exists() else []))
    directory = check_output_dir(directory, option="--write", inputs=inputs)
    stem = Path(advice.model.source).stem or "model"
    planned = [
        (directory / f"{stem}-{number}-{suggestion.kind}.keras", suggestion)
        for number, suggestion in enumerate(advice.suggestions, 1)
        if suggestion.config is not None
    ]
    for path, _ in planned:
        check_output(path, option="--write", inputs=inputs, force=force, create_parent=True)
    return [
        write_keras(suggestion.config, path, advice.model.metadata, weights, force)
        for path, suggestion in planned
    ]
