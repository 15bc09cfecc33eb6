"""Hostile side files and options (issue 17, items 5-7), written into a folder: each case is the
argv of one cnncost command, the environment it needs, and the exit code it must give.

`cases(folder)` writes the files and returns `[(name, argv, env, code)]`; argv is relative to
`folder` (run the console script there). Used by tests/test_side_files_bounded.py, which runs
each case under a 2 GiB address-space cap and a CPU-time bound.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "examples" / "models" / "seed_cnn.keras"
GOOD_CLAIMS = '[[claim]]\nlayer = "total"\nquantity = "params"\nvalue = 5392494\n'


def _seed_members() -> dict[str, bytes]:
    with zipfile.ZipFile(SEED) as archive:
        return {name: archive.read(name) for name in ("config.json", "metadata.json")}


def _write_keras(path: Path, config: dict, metadata: bytes) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("metadata.json", metadata)


def _encrypted(path: Path) -> None:
    members = _seed_members()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    raw = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = 0
        while (found := raw.find(signature, start)) >= 0:
            raw[found + offset] |= 0x1  # the "encrypted" flag on every member
            start = found + 4
    path.write_bytes(bytes(raw))


def _tf_op_model(function) -> dict:
    return {
        "class_name": "Functional",
        "config": {
            "name": "m",
            "layers": [
                {"class_name": "InputLayer", "name": "in", "inbound_nodes": [],
                 "config": {"batch_input_shape": [None, 8, 8, 3], "name": "in"}},
                {"class_name": "TFOpLambda", "name": "op", "inbound_nodes": [[["in", 0, 0, {}]]],
                 "config": {"name": "op", "function": function}},
            ],
            "input_layers": [["in", 0, 0]],
            "output_layers": [["op", 0, 0]],
        },
    }  # fmt: skip


def cases(folder: Path) -> list[tuple[str, list[str], dict[str, str], int]]:
    folder = Path(folder)
    members = _seed_members()
    (folder / "m.keras").write_bytes(SEED.read_bytes())
    (folder / "claims.toml").write_text(GOOD_CLAIMS)
    _encrypted(folder / "locked.keras")
    config = json.loads(members["config.json"])
    note = 1
    for _ in range(900):
        note = [note]
    config["config"]["layers"][1]["config"]["note"] = note
    _write_keras(folder / "deep.keras", config, members["metadata.json"])
    (folder / "tfop.json").write_text(json.dumps(_tf_op_model(["tf", "add"])))
    (folder / "binary.toml").write_bytes(b"\xce\xd2\x00\xff" * 16)
    (folder / "chain.toml").write_text(
        f'[[claim]]\nlayer = "conv2d"\nquantity = "macs"\nvalue = 1\nformula = "{"2*" * 5000}1"\n'
    )
    (folder / "binary.json").write_bytes(b"\xff\xfe" + bytes(range(256)))
    (folder / "typed.json").write_text(
        json.dumps({"peak_flops": {"float32": "fast"}, "bandwidth": [1], "measured": 5})
    )
    (folder / "exits.py").write_text("raise SystemExit(0)\n")
    (folder / "dir").mkdir(exist_ok=True)
    (folder / "afile").write_text("a file")
    cases: list[tuple[str, list[str], dict[str, str], int]] = [
        ("encrypted member", ["report", "locked.keras"], {}, 2),
        ("encrypted member (suggest)", ["suggest", "locked.keras", "--target-rf", "300"], {}, 2),
        ("malformed TFOpLambda function", ["report", "tfop.json", "--format", "json"], {}, 0),
        ("binary claims", ["audit", "m.keras", "binary.toml"], {}, 2),
        ("claims with a 5,000-factor formula", ["audit", "m.keras", "chain.toml"], {}, 2),
        ("binary device profile", ["report", "m.keras", "--device", "binary.json"], {}, 2),
        ("wrongly typed device profile", ["report", "m.keras", "--device", "typed.json"], {}, 2),
        ("formula --at with non-ASCII digits", ["formula", "m.keras", "--at", "H=²,W=١"], {}, 2),
        ("plot --out a folder", ["plot", "m.keras", "--out", "dir"], {}, 2),
        ("plot --out another type", ["plot", "m.keras", "--out", "x.txt"], {}, 2),
        (
            "suggest --write a file",
            ["suggest", "m.keras", "--target-rf", "300", "--write", "afile"],
            {},
            2,
        ),  # fmt: skip
        ("calibrate --out unwritable", ["calibrate", "--out", "/proc/cnncost.json"], {}, 2),
        ("calibrate --matmul-size huge", ["calibrate", "--matmul-size", "10000000"], {}, 2),
        ("calibrate --dtypes object", ["calibrate", "--dtypes", "object"], {}, 2),
        ("devices dir is a file", ["calibrate"], {"CNNCOST_DEVICES_DIR": "afile"}, 2),
        ("--output is the input", ["report", "m.keras", "--output", "m.keras", "--force"], {}, 2),
        ("--output exists", ["audit", "m.keras", "claims.toml", "-o", "claims.toml"], {}, 2),
        ("a plugin that exits", ["report", "m.keras", "--plugin", "exits.py"], {}, 2),
    ]
    for command in (["report"], ["suggest", "--target-rf", "300"], ["formula"]):
        cases.append(
            (f"deep config ({command[0]})", [command[0], "deep.keras", *command[1:]], {}, 2)
        )
    cases.append(("deep config (audit)", ["audit", "deep.keras", "claims.toml"], {}, 2))
    return cases
