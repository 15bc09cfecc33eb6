"""Hostile plugins (issue 17, item 7): whatever a plugin rule returns is checked (shapes, weights,
MACs, window(), cost), whatever it raises (any exception, SystemExit, a BaseException subclass
of its own, a KeyboardInterrupt it raises itself) is the one-line error naming the plugin, a
real Ctrl-C still interrupts, and a broken installed (entry-point) plugin is named in the error
and can be switched off (`--no-plugins`, `CNNCOST_NO_PLUGINS=1`)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cnncost
from cnncost import plugins
from cnncost.errors import PluginError
from cnncost.loaders.keras_config import graph_from_config

ROOT = Path(__file__).resolve().parent.parent
CNNCOST = shutil.which("cnncost")
LAYER = "HostileLayer"


def _config(class_name: str = LAYER) -> dict:
    return {
        "class_name": "Sequential",
        "config": {
            "name": "m",
            "layers": [
                {
                    "class_name": "InputLayer",
                    "config": {"name": "x", "batch_shape": [None, 8, 8, 2]},
                },
                {"class_name": class_name, "config": {"name": "custom"}},
            ],
        },
    }


def _analyze():
    return cnncost.analyze(graph_from_config(_config()))


@pytest.fixture
def rule():
    """Register a rule class for LAYER for one test."""
    registered = []

    def register(cls):
        plugins.register_rule(LAYER, cls)
        registered.append(cls)

    yield register
    if registered:
        plugins.unregister_rule(LAYER)


def _cli(*args: str, env: dict | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    command = [CNNCOST] if CNNCOST else [sys.executable, "-m", "cnncost"]
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=120, env=env, cwd=cwd
    )


def _one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("cnncost: error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


# -- what a rule returns ------------------------------------------------------------------------

VALID_WINDOW = dict(axes=(1, 2), kernel=(3, 3), strides=(1, 1), dilation=(1, 1), padding="valid")


@pytest.mark.parametrize(
    "window",
    [
        None,
        "3x3",
        (3, 3),
        {**VALID_WINDOW, "kernel": (0, 3)},  # an empty window
        {**VALID_WINDOW, "strides": (1, -1)},
        {**VALID_WINDOW, "dilation": (1, 1.5)},
        {**VALID_WINDOW, "axes": (1,)},  # lengths differ
        {**VALID_WINDOW, "axes": (0, 1)},  # the batch axis
        {**VALID_WINDOW, "axes": (1, 7)},  # beyond the rank-4 input
        {**VALID_WINDOW, "axes": (1, -3)},  # the same axis twice
        {**VALID_WINDOW, "axes": (), "kernel": (), "strides": (), "dilation": ()},
        {**VALID_WINDOW, "padding": "SAME!"},
        {**VALID_WINDOW, "padding": ((1, 1),)},
        {**VALID_WINDOW, "padding": ((1, -1), (0, 0))},
        {**VALID_WINDOW, "transposed": "yes"},
        {**VALID_WINDOW, "kernel": [3, 3]},  # a list, not a tuple
    ],
)
def test_a_malformed_window_is_a_plugin_error(rule, window):
    made = plugins.Window(**window) if isinstance(window, dict) else window

    class Windowed(plugins.Rule):
        rf = "window"

        def window(self, call):
            return made

    rule(Windowed)
    with pytest.raises(PluginError, match=rf"plugin rule for '{LAYER}': window returned"):
        _analyze()


def test_a_valid_window_is_used(rule):
    class Windowed(plugins.Rule):
        rf = "window"

        def window(self, call):
            return plugins.Window(**VALID_WINDOW)

    rule(Windowed)
    row = _analyze().layers[-1]
    assert row.extra["receptive_field"]["x"]["size"] == [3, 3]  # one 3x3 window


_ints = st.integers(-3, 5)
_tuples = st.one_of(st.tuples(_ints, _ints), st.tuples(_ints), st.just(()), st.lists(_ints))


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    axes=_tuples,
    kernel=_tuples,
    strides=_tuples,
    dilation=_tuples,
    padding=st.one_of(
        st.sampled_from(["valid", "same", "causal", "full", ""]),
        st.lists(st.tuples(_ints, _ints), max_size=3).map(tuple),
        st.integers(),
        st.none(),
    ),
    transposed=st.one_of(st.booleans(), st.integers(0, 1), st.none()),
)
def test_any_window_is_used_or_refused_in_one_line(
    axes, kernel, strides, dilation, padding, transposed
):
    """Random Window fields: the analysis either uses the window or names the plugin."""
    made = plugins.Window(axes, kernel, strides, dilation, padding, transposed)

    class Windowed(plugins.Rule):
        rf = "window"

        def window(self, call):
            return made

    plugins.register_rule(LAYER, Windowed)
    try:
        _analyze()
    except PluginError as exc:
        assert "\n" not in str(exc) and LAYER in str(exc)
    finally:
        plugins.unregister_rule(LAYER)


class _Weird:
    """An object whose every attribute runs code: even checking it must not escape."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        raise SystemExit(3)


@pytest.mark.parametrize(
    "member, value, message",
    [
        ("weights", (plugins.Weight("w", ("a",), True),), "expected known sizes"),
        ("weights", (plugins.Weight("w", (-2,), True),), "expected known sizes"),
        ("weights", (plugins.Weight(5, (2,), True),), "expected a name"),
        ("weights", [plugins.weight("w", (2,), True)], "tuple of plugins.weight"),
        ("macs", -1, "non-negative"),
        ("macs", 2.5, "non-negative"),
        ("macs", _Weird(), "_Weird"),
        ("output_shapes", ((None, _Weird()),), "cannot be checked"),
        ("output_shapes", _Weird(), "_Weird"),
    ],
)
def test_malformed_results_are_plugin_errors(rule, member, value, message):
    def returns(self, call, *args):
        return value

    rule(type("Wrong", (plugins.Rule,), {member: returns}))
    with pytest.raises(PluginError, match=message):
        _analyze()


@pytest.mark.parametrize("cost", ["no-such-row", 3, ("bias",)])
def test_an_unknown_cost_key_is_refused_at_registration(cost):
    with pytest.raises(PluginError, match="cost="):
        plugins.register_rule(LAYER, type("Costly", (plugins.Rule,), {"cost": cost}))


# -- what a rule raises --------------------------------------------------------------------------


class _OwnBaseException(BaseException):
    pass


class _OwnInterrupt(KeyboardInterrupt):
    pass


RAISED = [
    ValueError("bad"),
    SystemExit(0),
    SystemExit("bye"),
    GeneratorExit(),
    _OwnBaseException("custom"),
    _OwnInterrupt(),
    MemoryError(),
    RecursionError("deep"),
    ValueError("two\nlines"),
]


@pytest.mark.parametrize("member", ["output_shapes", "weights", "macs", "window"])
@pytest.mark.parametrize("raised", RAISED, ids=lambda e: type(e).__name__)
def test_anything_a_rule_raises_is_one_plugin_error(rule, member, raised, monkeypatch):
    # As in the CLI: Ctrl-C is marked, so a KeyboardInterrupt subclass the plugin raises is its.
    monkeypatch.setattr(signal, "getsignal", lambda s: plugins._on_sigint)

    def fails(self, call, *args):
        raise raised

    attrs = {member: fails}
    if member == "window":
        attrs["rf"] = "window"
    rule(type("Raises", (plugins.Rule,), attrs))
    with pytest.raises(PluginError) as caught:
        _analyze()
    text = str(caught.value)
    assert f"plugin rule for '{LAYER}' failed in {member}" in text
    assert type(raised).__name__ in text and "\n" not in text


def test_a_keyboard_interrupt_raised_outside_the_cli_is_let_through(rule):
    """Without the CLI's marker, a plain KeyboardInterrupt may be the user's: never swallowed."""

    class Interrupts(plugins.Rule):
        def macs(self, call, outputs):
            raise KeyboardInterrupt

    rule(Interrupts)
    with pytest.raises(KeyboardInterrupt):
        _analyze()


@pytest.mark.parametrize(
    "source",
    [
        "raise SystemExit(0)",
        "import sys; sys.exit()",
        "raise KeyboardInterrupt",
        "class E(BaseException): pass\nraise E('own')",
    ],
)
def test_cli_a_plugin_that_exits_while_loading_is_an_error(tmp_path, source):
    plugin = tmp_path / "exits.py"
    plugin.write_text(source)
    model = tmp_path / "m.json"
    model.write_text(json.dumps(_config("Dense")))
    line = _one_line_error(_cli("report", str(model), "--plugin", str(plugin)))
    assert "cannot load plugin" in line and "exits.py" in line


def _plugin_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "rules.py"
    path.write_text(
        "import os, time\nfrom cnncost import plugins\n\n"
        f"@plugins.layer_rule({LAYER!r})\nclass Rule(plugins.Rule):\n"
        "    def macs(self, call, outputs):\n" + body
    )
    return path


@pytest.mark.parametrize(
    "body",
    [
        "        raise SystemExit(0)\n",
        "        raise KeyboardInterrupt\n",
        "        os._exit  # noqa\n        raise GeneratorExit\n",
    ],
)
def test_cli_a_rule_that_exits_is_an_error_not_exit_0(tmp_path, body):
    model = tmp_path / "m.json"
    model.write_text(json.dumps(_config()))
    plugin = _plugin_file(tmp_path, body)
    line = _one_line_error(_cli("report", str(model), "--plugin", str(plugin)))
    assert f"plugin rule for '{LAYER}' failed in macs" in line
    assert line.endswith("the rule is from 'rules.py'")  # the plugin, named


def test_cli_a_real_ctrl_c_still_interrupts(tmp_path):
    model = tmp_path / "m.json"
    model.write_text(json.dumps(_config()))
    started = tmp_path / "started"
    plugin = _plugin_file(
        tmp_path, f"        open({str(started)!r}, 'w').close()\n        time.sleep(60)\n"
    )
    command = [CNNCOST] if CNNCOST else [sys.executable, "-m", "cnncost"]
    process = subprocess.Popen(
        [*command, "report", str(model), "--plugin", str(plugin)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    deadline = time.monotonic() + 60
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130 and stderr.strip() == "cnncost: interrupted", stderr


# -- installed (entry-point) plugins -------------------------------------------------------------


def _installed(tmp_path: Path, module_source: str) -> dict:
    """An environment where a package declares `broken_rules` as a cnncost plugin."""
    site = tmp_path / "site"
    info = site / "brokenpkg-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: brokenpkg\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[cnncost.plugins]\nbroken = broken_rules\n")
    (site / "broken_rules.py").write_text(module_source)
    env = {k: v for k, v in os.environ.items() if k != plugins.NO_PLUGINS_ENV}
    env["PYTHONPATH"] = os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])])
    return env


@pytest.mark.parametrize(
    "source", ["raise ImportError('missing dependency')", "raise SystemExit(0)", "1/0"]
)
def test_a_broken_installed_plugin_is_named_and_can_be_switched_off(tmp_path, source):
    env = _installed(tmp_path, source)
    seed = str(ROOT / "examples" / "models" / "seed_cnn.keras")
    line = _one_line_error(_cli("report", seed, "--format", "json", env=env))
    assert "installed plugin 'broken' = 'broken_rules'" in line
    assert "--no-plugins" in line and plugins.NO_PLUGINS_ENV in line
    flag = _cli("report", seed, "--format", "json", "--no-plugins", env=env)
    assert flag.returncode == 0 and json.loads(flag.stdout)["totals"]["params"] > 0, flag.stderr
    switched = _cli("report", seed, "--format", "json", env={**env, plugins.NO_PLUGINS_ENV: "1"})
    assert switched.returncode == 0 and switched.stdout == flag.stdout, switched.stderr


def test_no_plugins_still_loads_the_plugins_named_on_the_command_line(tmp_path):
    env = _installed(tmp_path, "raise ImportError('missing dependency')")
    model = tmp_path / "m.json"
    model.write_text(json.dumps(_config()))
    plugin = _plugin_file(tmp_path, "        return 7\n")
    result = _cli(
        "report", str(model), "--plugin", str(plugin), "--no-plugins", "--format", "json", env=env
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["layers"][-1]["macs"] == 7


@pytest.mark.parametrize("value, disabled", [("1", True), ("yes", True), ("0", False), ("", False)])
def test_the_environment_switch(monkeypatch, value, disabled):
    monkeypatch.setenv(plugins.NO_PLUGINS_ENV, value)
    assert plugins.entry_points_disabled() is disabled


def test_the_cli_puts_the_ctrl_c_handler_back(tmp_path):
    """main() marks Ctrl-C only for its own run (in-process callers keep their handler)."""
    from cnncost.cli import main

    before = signal.getsignal(signal.SIGINT)
    model = tmp_path / "m.json"
    model.write_text(json.dumps(_config("Dense")))
    main(["report", str(model), "--no-plugins", "--format", "json"])
    assert signal.getsignal(signal.SIGINT) is before
