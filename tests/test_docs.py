"""The docs match the program (issue 15, item 8).

- every option of every command (enumerated from the argparse parsers of `cnncost` and
  `reference-model`, so a new option fails here until its page documents it) appears on that
  command's page, with each of its choices;
- every command is in `--help` and in the docs index;
- every key of the JSON contract is in docs/json.md;
- the examples of the README and the quick start run through the real console script and print
  what the docs show (```console blocks: `$ command` then its output, at 80 columns).

After an intended change of output, `CNNCOST_UPDATE_DOCS=1 python -m pytest tests/test_docs.py`
rewrites the outputs in the docs; read the diff before committing it.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

# the page that documents each command
CNNCOST_PAGES = {
    "report": "commands/report.md",
    "diff": "commands/diff.md",
    "plot": "commands/plot.md",
    "formula": "commands/formula.md",
    "suggest": "commands/suggest.md",
    "audit": "commands/audit.md",
    "calibrate": "commands/calibrate.md",
    "conventions": "commands/conventions.md",
    "help": "index.md",
}
REFERENCE_MODEL_PAGES = {
    "synth": "training.md",
    "scan": "training.md",
    "train": "training.md",
    "evaluate": "training.md",
    "predict": "training.md",
    "profile": "validation.md",
    "validate": "validation.md",
}


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def _parsers():
    from cnncost.cli import build_parser as cnncost_parser
    from reference_model.cli import build_parser as reference_parser

    return {
        "cnncost": (cnncost_parser(), CNNCOST_PAGES),
        "reference-model": (reference_parser(), REFERENCE_MODEL_PAGES),
    }


def _options():
    for prog, (parser, pages) in _parsers().items():
        for command, sub in _commands(parser).items():
            for action in sub._actions:
                longs = [s for s in action.option_strings if s.startswith("--")]
                if not longs or longs == ["--help"]:
                    continue
                yield pytest.param(
                    prog, command, pages.get(command), action, id=f"{prog} {command} {longs[0]}"
                )


def _mentions(page: str, option: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", page) is not None


@pytest.mark.parametrize(("prog", "command", "page", "action"), list(_options()))
def test_every_option_is_on_its_commands_page(prog, command, page, action):
    assert page, f"{prog} {command}: no docs page (add it to CNNCOST_PAGES/REFERENCE_MODEL_PAGES)"
    text = (DOCS / page).read_text()
    longs = [s for s in action.option_strings if s.startswith("--")]
    assert any(_mentions(text, s) for s in longs), (
        f"{prog} {command} {longs[0]}: not in docs/{page}"
    )
    if action.choices and prog == "cnncost" and command != "report" and _as_for_report(action):
        page, text = "commands/report.md", (DOCS / "commands/report.md").read_text()
    for choice in action.choices or ():
        assert re.search(rf"(?<![\w-]){re.escape(str(choice))}(?![\w-])", text), (
            f"{prog} {command} {longs[0]}: choice {choice!r} not in docs/{page}"
        )


def _as_for_report(action: argparse.Action) -> bool:
    """An option shared with `report`, with the same choices: its choices are documented there
    (the other pages say "as for `report`")."""
    from cnncost.cli import build_parser

    report = _commands(build_parser())["report"]
    return any(
        set(a.option_strings) == set(action.option_strings) and a.choices == action.choices
        for a in report._actions
    )


def test_every_command_has_a_page_and_nothing_else_does():
    for prog, (parser, pages) in _parsers().items():
        assert set(_commands(parser)) == set(pages), prog
        for page in pages.values():
            assert (DOCS / page).exists(), page


def _help(prog: str) -> str:
    script = shutil.which(prog)
    assert script, f"the `{prog}` console script is not on PATH (pip install -e .)"
    result = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_every_command_is_in_help_and_in_the_docs():
    index = (DOCS / "index.md").read_text()
    training = (DOCS / "training.md").read_text()
    for prog, (parser, _pages) in _parsers().items():
        text = _help(prog)
        # argparse lists the choices in the usage; the description and the command list must
        # name them too (a description that lists 5 commands of 7 fails)
        description, _, listing = text.partition("positional arguments:")
        for command in _commands(parser):
            assert re.search(rf"^\s+{command}\s+\S", listing, re.M), f"{prog} --help: {command}"
            if prog == "reference-model":
                assert command in description.split("usage:")[-1].split("\n\n", 1)[-1], command
                assert f"`{command}`" in training, f"docs/training.md: {command}"
            else:
                assert f"cnncost {command}" in index or f"[{command}]" in index, command


def test_json_contract_keys_are_documented(tmp_path):
    import cnncost
    from cnncost.passes.receptive_field import RF_KEYS

    page = (DOCS / "json.md").read_text()
    data = cnncost.analyze(
        ROOT / "examples" / "models" / "seed_cnn.keras", device="h100", dataset_size=1000
    ).to_dict()
    keys = set(data) | set(data["model"]) | set(data["conventions"]) | set(data["totals"])
    keys |= set(data["layers"][1]) | set(RF_KEYS) | {"reason", "kind", "layer", "message"}
    for key in sorted(keys):
        assert f"`{key}`" in page or f'"{key}"' in page, f"docs/json.md: {key}"
    assert f"{len(RF_KEYS)} keys" in page


def test_no_page_points_outside_the_repository():
    for page in [ROOT / "README.md", *DOCS.rglob("*.md")]:
        text = page.read_text()
        assert "../shared" not in text and "/work/" not in text, page
        assert "design.md" not in text and "the design" not in text, page


# -- examples -------------------------------------------------------------------------------------

EXAMPLE_PAGES = [ROOT / "README.md", DOCS / "quickstart.md", DOCS / "commands" / "report.md"]
CONSOLE = re.compile(r"```console\n(.*?)```", re.S)
README_PAIR = re.compile(r"```bash\n(cnncost [^\n]*)\n```\n\n```text\n(.*?)```", re.S)


def _run_example(command: str, tmp_path: Path) -> subprocess.CompletedProcess:
    words = shlex.split(command)
    script = shutil.which(words[0])
    assert script, f"the `{words[0]}` console script is not on PATH"
    if "--out" in words:  # never overwrite the repository's files
        index = words.index("--out") + 1
        words[index] = str(tmp_path / Path(words[index]).name)
    env = {**os.environ, "COLUMNS": "80", "TERM": "dumb"}
    env.pop("NO_COLOR", None)
    return subprocess.run(
        [script, *words[1:]], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300
    )


def _clean(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.rstrip().splitlines())


def _blocks(text: str):
    """(command, shown output, span of the output) of each console example."""
    for block in CONSOLE.finditer(text):
        body = block.group(1)
        offset = block.start(1)
        parts = list(re.finditer(r"^\$ (.*)\n", body, re.M))
        for i, part in enumerate(parts):
            end = parts[i + 1].start() if i + 1 < len(parts) else len(body)
            yield part.group(1), body[part.end() : end], (offset + part.end(), offset + end)
    for pair in README_PAIR.finditer(text):
        yield pair.group(1), pair.group(2), pair.span(2)


def _examples():
    for page in EXAMPLE_PAGES:
        for command, _shown, _span in _blocks(page.read_text()):
            yield pytest.param(page, command, id=f"{page.name}: {command}")


@pytest.mark.parametrize(("page", "command"), list(_examples()))
def test_examples_print_what_the_docs_show(page, command, tmp_path):
    result = _run_example(command, tmp_path)
    expected_code = 1 if command.startswith("cnncost audit") else 0
    assert result.returncode == expected_code, result.stderr
    text = page.read_text()
    for shown_command, shown, span in _blocks(text):
        if shown_command != command:
            continue
        actual = _clean(result.stdout)
        if os.environ.get("CNNCOST_UPDATE_DOCS"):
            page.write_text(text[: span[0]] + actual + "\n" + text[span[1] :])
            return
        assert _clean(shown) == actual, f"{page.name}: `{command}` prints something else now"


INLINE = re.compile(r"`((?:cnncost|reference-model) [^`]+)`")


def _inline_commands():
    """Concrete commands quoted in the README and the quick start (not `cnncost report MODEL`)."""
    seen = set()
    for page in (ROOT / "README.md", DOCS / "quickstart.md"):
        text = page.read_text()
        for block in re.finditer(r"```bash\n(.*?)```", text, re.S):
            for line in block.group(1).splitlines():
                if line.startswith("cnncost "):
                    seen.add(line.split("  #")[0].strip())
        seen.update(m.group(1) for m in INLINE.finditer(text))
    for command in sorted(seen):
        words = shlex.split(command)
        if words[0] != "cnncost" or any(w.isupper() or w in ("A", "B") for w in words[1:]):
            continue  # a pattern (`cnncost report MODEL`), or the trainer (slow; its own tests)
        if len(words) == 2 and words[1] not in ("conventions", "help"):
            continue  # the command's name in a sentence (`cnncost formula` gives ...)
        if any(("/" in w or w.endswith(".keras")) and not (ROOT / w).exists() for w in words[2:]
               if not w.startswith("-") and w != "docs/img/seed_cnn_plot.png"):  # fmt: skip
            continue
        yield pytest.param(command, id=command)


@pytest.mark.parametrize("command", list(_inline_commands()))
def test_commands_quoted_in_the_docs_run(command, tmp_path):
    result = _run_example(command, tmp_path)
    expected = (0, 1) if command.startswith("cnncost audit") else (0,)
    assert result.returncode in expected, result.stderr
    assert "error" not in result.stderr


def test_ci_runs_the_readmes_install_and_test_commands():
    """.ci/run is the README's set-up, command for command: two commands, install and test."""
    readme = (ROOT / "README.md").read_text()
    setup = readme.split("## Set up and test", 1)[1].split("\n## ", 1)[0]
    commands = [b.strip() for b in re.findall(r"```bash\n(.*?)```", setup, re.S)]
    assert len(commands) == 2 and commands[1].startswith("python3 -m pytest --full")
    ci = [
        line
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.startswith("python3 ")
    ]
    assert ci == commands


LIGHT_ARGS = {  # a run of each command on the example files
    "report": ["report", "examples/models/seed_cnn.keras", "--format", "json"],
    "diff": ["diff", "examples/models/seed_cnn.keras", "examples/models/unet.keras"],
    "formula": ["formula", "examples/models/seed_cnn.keras"],
    "suggest": ["suggest", "examples/models/seed_cnn.keras", "--target-rf", "64"],
    "audit": ["audit", "examples/models/seed_cnn.keras", "examples/seed_claims.toml"],
    "conventions": ["conventions", "--format", "json"],
}


def _light_commands():
    readme = (ROOT / "README.md").read_text()
    (bullet,) = re.findall(r"^- `python3 -m pip install -e \.`:(.*?)(?=^- )", readme, re.S | re.M)
    return re.findall(r"`(\w+)`", bullet)


@pytest.mark.parametrize("command", _light_commands())
def test_the_light_install_commands_need_no_tensorflow(command):
    """What the README says runs without TensorFlow imports none of the heavy packages."""
    code = (
        "import sys; from cnncost.cli import main; "
        f"rc = main({LIGHT_ARGS[command]!r}); "
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'keras', 'tensorflow', 'jax', 'torch', 'matplotlib', 'h5py'}); "
        "sys.stderr.write('HEAVY=' + ','.join(heavy)); sys.exit(rc)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert result.returncode in ((0, 1) if command == "audit" else (0,)), result.stderr[-300:]
    assert result.stderr.endswith("HEAVY="), result.stderr[-300:]
