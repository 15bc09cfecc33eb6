"""Check hand-calculated claims against exact values, and name the most likely mistake.

A claims file (TOML) lists what a person computed:

    model = "examples/models/seed_cnn.keras"      # optional (the command line gives it too)
    input_shape = "256,256,3"                     # optional
    [[claim]]
    layer = "conv2d"          # a layer name, or "total" for the whole model
    quantity = "flops"        # output_size | rf | jump | params | macs | flops | flops_equal_macs
    value = 21477248
    formula = "2 * (3 * 3) * 3 * 32 * (256 * 256)"   # optional: the product they wrote
    source = "README: FLOPS for the first convolutional layer"   # optional

A wrong claim is recomputed under known wrong rules, alone and combined (fewest first):

- `stride-padding-assumed`: every conv/pool taken as stride 2 with "same" padding (each layer
  halves the size); `input-size-for-output`: the layer's input size used where its output size
  belongs; `bias-activation-left-out`: FLOPs = 2*MACs (no bias add, activation or softmax);
  `flops-equal-macs`: FLOPs = MACs; `jump-ignored`: RF grows by k-1 per layer whatever the jump;
  `pooling-ignored`: pooling layers left out of the RF;
- `arithmetic-slip`: the claimed number differs from the product written next to it;
- `wrong-operand`: a factor of the written product is none of the layer's exact operands.

Exact values come from the ordinary analysis (convention `full` unless chosen otherwise).
"""

from __future__ import annotations

import ast
import copy
import itertools
import math
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnncost.analysis import Options
from cnncost.errors import CnnCostError
from cnncost.layers import Call, rule_for
from cnncost.layers.base import guarded

QUANTITIES = ("output_size", "rf", "jump", "params", "macs", "flops", "flops_equal_macs")
RULES = {
    "same-padding-assumed": "convs assumed 'same' padding (they keep the size; pooling halves it)",
    "stride-padding-assumed": "every conv/pool assumed stride 2 with 'same' padding (sizes halved)",
    "input-size-for-output": "the layer's input size used instead of its output size",
    "bias-activation-left-out": "FLOPs taken as 2*MACs: bias add, activation and softmax left out",
    "flops-equal-macs": "FLOPs taken equal to MACs (a MAC is two FLOPs)",
    "jump-ignored": "RF grown by k-1 per layer, ignoring the jump (product of earlier strides)",
    "pooling-ignored": "pooling layers left out of the receptive field",
}
APPLIES = {
    "output_size": ("stride-padding-assumed", "same-padding-assumed"),
    "rf": ("jump-ignored", "pooling-ignored"),
    "jump": ("jump-ignored", "pooling-ignored"),
    "params": (),
    "macs": ("same-padding-assumed", "stride-padding-assumed", "input-size-for-output"),
    "flops": (
        "same-padding-assumed",
        "stride-padding-assumed",
        "input-size-for-output",
        "bias-activation-left-out",
        "flops-equal-macs",
    ),
}
POOLS = ("MaxPooling", "AveragePooling")


@dataclass(frozen=True)
class Claim:
    layer: str
    quantity: str
    value: Any
    formula: str | None = None
    source: str = ""


@dataclass(frozen=True)
class Verdict:
    claim: Claim
    exact: Any
    correct: bool
    mistakes: tuple[str, ...]  # rule keys, most likely first
    explanation: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.claim.layer,
            "quantity": self.claim.quantity,
            "claimed": self.claim.value,
            "formula": self.claim.formula,
            "source": self.claim.source,
            "exact": self.exact,
            "verdict": "correct" if self.correct else "wrong",
            "mistakes": list(self.mistakes),
            "explanation": self.explanation,
        }


@dataclass(frozen=True)
class Audit:
    source: str
    input_shape: Any
    conventions: Mapping[str, Any]
    verdicts: tuple[Verdict, ...]

    @property
    def wrong(self) -> int:
        return sum(not v.correct for v in self.verdicts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": 1,
            "model": {"source": self.source, "input_shape": self.input_shape},
            "conventions": dict(self.conventions),
            "claims": [v.to_dict() for v in self.verdicts],
            "wrong": self.wrong,
            "rules": RULES,
        }


# -- reading claims -------------------------------------------------------------------------------


# The claims file is a side file the user names: untrusted like a model file. One schema
# (`_claim`) checks every field before anything is computed from it.
MAX_FORMULA_CHARS = 1000  # a hand-written product; "2 * (3 * 3) * 3 * 32 * (256 * 256)" is 35
MAX_CLAIM_DIGITS = 40  # the largest count a CNN claim needs is ~10**15; 40 digits is generous
MAX_CLAIMS = 10_000


def read_claims(path: str | Path) -> tuple[dict[str, Any], list[Claim]]:
    import tomllib

    from cnncost.limits import MAX_SIDE_FILE_BYTES, read_text_capped

    path = Path(path)
    try:
        data = tomllib.loads(read_text_capped(path, MAX_SIDE_FILE_BYTES, "claims file"))
    except (tomllib.TOMLDecodeError, ValueError, RecursionError) as exc:
        # ValueError: an integer too long for int(); RecursionError: arrays nested too deeply.
        raise CnnCostError(f"{path}: not valid TOML ({_first_line(exc)})") from None
    for key in ("model", "input_shape"):
        if key in data and not isinstance(data[key], str):
            raise CnnCostError(f"{path}: {key} must be a string, not {type(data[key]).__name__}")
    entries = data.get("claim", [])
    if not isinstance(entries, list) or not entries:
        raise CnnCostError(f"{path}: no [[claim]] entries")
    if len(entries) > MAX_CLAIMS:
        raise CnnCostError(f"{path}: more than {MAX_CLAIMS} claims")
    claims = [_claim(entry, f"{path}: claim {n}") for n, entry in enumerate(entries, 1)]
    return {k: v for k, v in data.items() if k != "claim"}, claims


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]


def _claim(entry: Any, where: str) -> Claim:
    """One `[[claim]]` table, every field checked (the claims file's schema)."""
    if not isinstance(entry, Mapping):
        raise CnnCostError(f"{where} is not a table")
    quantity = entry.get("quantity")
    if not isinstance(quantity, str) or quantity not in QUANTITIES:
        raise CnnCostError(
            f"{where}: quantity must be one of {', '.join(QUANTITIES)}, not {_brief(quantity)}"
        )
    value = entry.get("value")
    if quantity == "flops_equal_macs":
        valid = isinstance(value, bool)
    else:
        valid = _is_number(value) and _finite_and_bounded(value)
    if not valid:
        raise CnnCostError(f"{where}: value {_brief(value)} is not a valid {quantity}")
    formula = entry.get("formula")
    if formula is not None:
        if not isinstance(formula, str):
            raise CnnCostError(f"{where}: formula must be a string")
        if len(formula) > MAX_FORMULA_CHARS:
            raise CnnCostError(f"{where}: formula longer than {MAX_FORMULA_CHARS} characters")
        evaluate_formula(formula)  # an unreadable product is reported here, before any analysis
    layer = entry.get("layer", "total")
    if not isinstance(layer, str):
        raise CnnCostError(f"{where}: layer must be a string")
    source = entry.get("source", "")
    if not isinstance(source, str):
        raise CnnCostError(f"{where}: source must be a string")
    return Claim(layer, quantity, value, formula, source)


def _brief(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _finite_and_bounded(value: int | float) -> bool:
    if isinstance(value, float):
        return math.isfinite(value) and abs(value) < 10.0**MAX_CLAIM_DIGITS
    return abs(value) < 10**MAX_CLAIM_DIGITS


def _is_number(value: Any) -> bool:
    """A claimed count: a finite number within cnncost's count cap (a claimed inf or NaN is
    refused, never judged: docs/limits.md)."""
    from cnncost.limits import MAX_COUNT

    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    return math.isfinite(value) and abs(value) <= MAX_COUNT


_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul}


def evaluate_formula(text: str) -> int:
    """An arithmetic product as written (`2 * (3 * 3) * 3`), evaluated without eval(); every
    value within MAX_COUNT (docs/limits.md)."""
    from cnncost.limits import MAX_COUNT, cap_error

    def bounded(value: int) -> int:
        if abs(value) > MAX_COUNT:
            raise cap_error(f"a value in the formula {_brief(text)}", value, "2**100")
        return value

    if len(text) > MAX_FORMULA_CHARS:
        raise CnnCostError(f"the formula is longer than {MAX_FORMULA_CHARS} characters")
    try:
        tree = ast.parse(text.replace(",", "").replace("x", "*").replace("×", "*"), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        # ValueError: a null byte or an over-long integer; RecursionError/MemoryError: a formula
        # nested too deeply for Python's parser.
        raise CnnCostError(f"cannot read the formula {_brief(text)}") from None

    # Evaluated with an explicit stack (post-order), so a long chain of products never recurses.
    results: list[int] = []
    stack: list[tuple[ast.AST, bool]] = [(tree.body, False)]
    while stack:
        node, expanded = stack.pop()
        if isinstance(node, ast.Constant) and type(node.value) is int:
            if len(str(abs(node.value))) > MAX_CLAIM_DIGITS:
                raise CnnCostError(
                    f"the formula {_brief(text)} has a number over {MAX_CLAIM_DIGITS} digits"
                )
            results.append(bounded(node.value))
        elif isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            if expanded:
                right, left = results.pop(), results.pop()
                results.append(bounded(_OPS[type(node.op)](left, right)))
            else:
                stack += [(node, True), (node.right, False), (node.left, False)]
        else:
            raise CnnCostError(f"the formula {_brief(text)} is not a product of whole numbers")
    return results[0]


def formula_factors(text: str) -> list[tuple[str, int]]:
    """Top-level factors of a product, as written and as values: `2 * (64 * 64 * 128) * 46` has
    the three factors `2`, `(64 * 64 * 128)` and `46` (a parenthesised group is one operand, as
    its author meant it)."""
    text = text.replace("×", "*").replace("x", "*")  # the same spellings evaluate_formula takes
    factors, depth, start = [], 0, 0
    for index, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "*" and depth == 0:
            factors.append(text[start:index].strip())
            start = index + 1
    factors.append(text[start:].strip())
    return [(factor, evaluate_formula(factor)) for factor in factors if factor]


# -- exact and rule-based values ------------------------------------------------------------------


@dataclass(frozen=True)
class _World:
    """Per-layer values under one set of size assumptions (true or halved)."""

    rows: Mapping[str, Any]  # LayerRow by name
    totals: Mapping[str, Any]
    graph: Any
    shapes: Any


def _world(config: Mapping[str, Any], options: Options) -> _World:
    from cnncost.analysis import analyze_graph, input_overrides
    from cnncost.loaders.keras_config import graph_from_config
    from cnncost.passes.shapes import infer_shapes

    graph = graph_from_config(copy.deepcopy(dict(config)))
    report = analyze_graph(graph, options)
    shapes = infer_shapes(graph, input_overrides(graph, options.input_shape))
    exact_totals = {key: report.exact_total(key) for key in report.totals}
    return _World({r.name: r for r in report.layers}, exact_totals, graph, shapes)


def _halved(config: Mapping[str, Any], convs_keep_size: bool = False) -> dict:
    """Every conv/pool as stride 2, "same" padding: the "each layer halves" assumption; with
    `convs_keep_size`, convs get "same" padding (and keep their strides) instead."""
    edited = copy.deepcopy(dict(config))
    for layer in edited["config"]["layers"]:
        cls = layer.get("class_name", "")
        if cls.startswith("Conv") and convs_keep_size:
            layer["config"]["padding"] = "same"
        elif cls.startswith(("Conv", *POOLS)) and "Global" not in cls and not convs_keep_size:
            layer["config"]["strides"] = 2
            layer["config"]["padding"] = "same"
    return edited


def _spatial(shape: Any) -> tuple[int, ...]:
    return tuple(shape[1:-1]) if shape is not None and len(shape) > 2 else ()


def _prod(values) -> int:
    result = 1
    for v in values:
        result *= v
    return result


def _compute_values(world: _World, layer: str, flags: frozenset[str]) -> Any:
    row = world.rows[layer]
    macs = row.macs
    if macs is None:
        return None
    flops = row.extra.get("flops")
    if "input-size-for-output" in flags:
        out_sp = _prod(_spatial(row.output_shapes[0]))
        in_shape = world.shapes.nodes[layer].inputs[0] if world.shapes.nodes[layer].inputs else None
        in_sp = _prod(_spatial(in_shape))
        if not out_sp or not _spatial(row.output_shapes[0]):
            return None
        macs = macs // out_sp * in_sp
        flops = None  # only the MAC-based FLOP rules are defined at the wrong size
    return macs, flops


def _rf_values(world: _World, layer: str, flags: frozenset[str]) -> tuple[int, int] | None:
    """(size, jump) on the first spatial axis up to `layer`, under RF rule flags."""
    if not flags:
        return None
    size, jump = 1, 1
    names = _chain_to(world, layer)
    if names is None:
        return None
    for name in names:
        node = world.graph.node(name)
        rule = rule_for(node)
        if rule is None or rule.rf != "window" or rule.window is None:
            continue
        if "pooling-ignored" in flags and node.class_name.startswith(POOLS):
            continue
        window = guarded(Call(node, world.shapes.nodes[name].inputs), rule.window)
        if window is None:
            return None  # a window not modelled (bicubic upsampling): no value to compare
        k_eff = window.dilation[0] * (window.kernel[0] - 1) + 1
        size += (k_eff - 1) * (1 if "jump-ignored" in flags else jump)
        jump *= window.strides[0]
    return size, (1 if "jump-ignored" in flags else jump)


def _chain_to(world: _World, layer: str) -> list[str] | None:
    """The layers from the input to `layer` when the model is a chain up to it."""
    names = []
    current = layer
    while True:
        node = world.graph.node(current)
        names.append(current)
        if not node.inputs:
            return list(reversed(names))
        if len(node.inputs) != 1:
            return None
        current = node.inputs[0].node


def _last_local(world: _World, input_name: str) -> str | None:
    best = None
    for name, row in world.rows.items():
        rf = (row.extra.get("receptive_field") or {}).get(input_name)
        if rf and rf.get("global") is False:
            best = name
    return best


class _Auditor:
    def __init__(self, config: Mapping[str, Any], options: Options):
        self.true = _world(config, options)
        try:
            self.halved = _world(_halved(config), options)
        except CnnCostError:
            self.halved = None
        try:
            self.same = _world(_halved(config, convs_keep_size=True), options)
        except CnnCostError:
            self.same = None
        self.input_name = self.true.graph.inputs[0].node

    def resolve(self, claim: Claim) -> str:
        if claim.layer != "total":
            if claim.layer not in self.true.rows:
                raise CnnCostError(
                    f"claim on {claim.quantity}: the model has no layer named {claim.layer!r} "
                    f"(layers: {', '.join(list(self.true.rows)[:12])})"
                )
            return claim.layer
        if claim.quantity in ("rf", "jump", "output_size"):
            last = _last_local(self.true, self.input_name)
            if last is None:
                raise CnnCostError("the model has no local receptive field to compare with")
            return last
        return "total"

    def value(self, layer: str, quantity: str, flags: frozenset[str]) -> Any:
        """The value of `quantity` at `layer` under `flags` (empty: the exact value)."""
        world = self.true
        if "stride-padding-assumed" in flags:
            if self.halved is None or layer not in self.halved.rows:
                return None
            world = self.halved
        if "same-padding-assumed" in flags:
            if (
                self.same is None
                or layer not in self.same.rows
                or "stride-padding-assumed" in flags
            ):
                return None
            world = self.same
        if quantity == "flops_equal_macs":
            return world.totals["flops"] == world.totals["macs"]
        if layer == "total":
            if quantity == "params":
                return None if flags else world.totals["params"]
            if quantity in ("macs", "flops") and not flags - {
                "bias-activation-left-out",
                "flops-equal-macs",
            }:
                return _flops_rule(world.totals["macs"], world.totals["flops"], quantity, flags)
            return None
        row = world.rows[layer]
        if quantity == "output_size":
            spatial = _spatial(row.output_shapes[0])
            return spatial[0] if spatial else None
        if quantity == "params":
            return row.params
        if quantity in ("rf", "jump"):
            rule_flags = flags & {"jump-ignored", "pooling-ignored"}
            if rule_flags:
                found = _rf_values(world, layer, rule_flags)
                return None if found is None else found[0 if quantity == "rf" else 1]
            rf = (row.extra.get("receptive_field") or {}).get(self.input_name)
            if not rf or rf.get("global") is not False:
                return None
            return rf["size" if quantity == "rf" else "jump"][0]
        found = _compute_values(world, layer, flags)
        if found is None:
            return None
        return _flops_rule(found[0], found[1], quantity, flags)

    def exact_operands(self, layer: str) -> dict[int, str]:
        """The numbers a correct product for this layer is built from."""
        if layer == "total":
            return {}
        node = self.true.graph.node(layer)
        row = self.true.rows[layer]
        shapes = self.true.shapes.nodes[layer]
        operands: dict[int, str] = {2: "2 FLOPs per MAC"}
        in_shape = shapes.inputs[0] if shapes.inputs else None
        out_shape = row.output_shapes[0]
        for name, shape in (("input", in_shape), ("output", out_shape)):
            if shape is None:
                continue
            spatial = _spatial(shape)
            for d in spatial:
                operands.setdefault(d, f"{name} size")
            if spatial:
                operands.setdefault(_prod(spatial), f"{name} positions")
            operands.setdefault(shape[-1], f"{name} channels/features")
        kernel = node.config.get("kernel_size") or node.config.get("pool_size")
        if kernel:
            kernel = [kernel] * 2 if isinstance(kernel, int) else list(kernel)
            operands.setdefault(_prod(kernel), "kernel taps")
            for k in kernel:
                operands.setdefault(k, "kernel size")
        for key in ("filters", "units"):
            if isinstance(node.config.get(key), int):
                operands.setdefault(node.config[key], key)
        return operands

    def judge(self, claim: Claim) -> Verdict:
        layer = self.resolve(claim)
        exact = self.value(layer, claim.quantity, frozenset())
        if claim.quantity == "flops_equal_macs":
            correct = exact == claim.value
            return Verdict(
                claim,
                exact,
                correct,
                () if correct else ("flops-equal-macs",),
                ""
                if correct
                else RULES["flops-equal-macs"]
                + f": {self.true.totals['flops']:,} FLOPs vs {self.true.totals['macs']:,} MACs",
            )
        written = None if claim.formula is None else evaluate_formula(claim.formula)
        if _same(claim.value, exact) and (written is None or _same(written, exact)):
            return Verdict(claim, exact, True, (), "")
        mistakes: list[str] = []
        notes: list[str] = []
        target = claim.value
        if written is not None and not _same(written, claim.value):
            mistakes.append("arithmetic-slip")
            notes.append(f"the written product {claim.formula} is {written:,}, not {claim.value:,}")
            target = written  # explain the product they wrote
        combo = self._explain(layer, claim.quantity, target)
        if combo:
            mistakes.extend(combo)
            notes.append("; ".join(RULES[r] for r in combo))
        elif claim.formula and claim.quantity in ("macs", "flops", "params"):
            wrong = self._wrong_operands(layer, claim.formula)
            if wrong:
                mistakes.append("wrong-operand")
                notes.append(wrong)
        if not mistakes:
            mistakes.append("unexplained")
            notes.append("no known wrong rule reproduces the claim")
        return Verdict(claim, exact, False, tuple(mistakes), ". ".join(notes))

    def _explain(self, layer: str, quantity: str, target: Any) -> tuple[str, ...]:
        rules = APPLIES.get(quantity, ())
        for count in range(1, len(rules) + 1):
            for combo in itertools.combinations(rules, count):
                if "bias-activation-left-out" in combo and "flops-equal-macs" in combo:
                    continue
                value = self.value(layer, quantity, frozenset(combo))
                if value is not None and _same(target, value):
                    return combo
        return ()

    def _wrong_operands(self, layer: str, formula: str) -> str:
        operands = self.exact_operands(layer)
        if not operands:
            return ""
        odd = [(text, v) for text, v in formula_factors(formula) if v not in operands]
        if not odd:
            return ""
        return (
            "operands not in this layer: "
            + ", ".join(f"{text} = {v:,}" for text, v in odd)
            + (
                " (its exact operands: "
                + ", ".join(f"{label} {v:,}" for v, label in sorted(operands.items()))
                + ")"
            )
        )


def _flops_rule(macs: Any, flops: Any, quantity: str, flags: frozenset[str]) -> Any:
    if quantity == "macs":
        return macs
    if quantity == "params":
        return None
    if "flops-equal-macs" in flags:
        return macs
    if "bias-activation-left-out" in flags:
        return 2 * macs
    return flops


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return False
    if isinstance(a, int) and isinstance(b, int):
        return a == b  # exact (a written product can exceed any float)
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1)


def audit(model: Any, claims_path: str | Path, options: Options | None = None) -> Audit:
    """Judge every claim of a claims file against the exact analysis of `model`."""
    from cnncost.advise import load_model_config

    header, claims = read_claims(claims_path)
    if options is None:
        options = Options(input_shape=header.get("input_shape"))
    elif options.input_shape is None and header.get("input_shape"):
        from dataclasses import replace

        options = replace(options, input_shape=header["input_shape"])
    config = load_model_config(model)
    auditor = _Auditor(config.config, options)
    verdicts = tuple(auditor.judge(claim) for claim in claims)
    return Audit(
        config.source,
        options.input_shape,
        {"flops": options.flops_convention, "batch": options.batch},
        verdicts,
    )
