"""cnncost's caps on untrusted input, in one place (docs/limits.md lists them for users).

Every model file, side file and option is untrusted. The caps keep every analysis linear in the
size of what was written and bounded in memory: a small file cannot make cnncost read forever,
allocate gigabytes, or print a number no format can hold. Each cap, when hit, is a one-line
`CnnCostError` (exit code 2 on the command line) that names the cap. No real model comes near
any of them (EfficientNetB7: 816 layers, a 0.8 MB config, rank 4, names under 40 characters).

This module also holds the one capped reader (`read_capped`) every file read goes through, and
the JSON parser (`loads_json`) every JSON text goes through.
"""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path
from typing import Any

from cnncost.errors import CnnCostError, ModelConfigError, ModelFileError

# -- reads ---------------------------------------------------------------------------------------
# A model's configuration (config.json in a .keras zip, an .h5 model_config, a JSON config, a
# SavedModel's keras_metadata.pb), uncompressed. EfficientNetB7's is 0.8 MB.
MAX_CONFIG_BYTES = 64 * 2**20
# A side file: an audit claims TOML, a device profile JSON.
MAX_SIDE_FILE_BYTES = 2**20
# Members of a .keras zip (Keras writes 3: config.json, metadata.json, model.weights.h5): the
# central directory is read whole, so a zip of millions of empty members is refused first.
MAX_ZIP_MEMBERS = 10_000
# JSON values in one text (an upper bound counted before parsing: commas + `[` + `{`). Parsing
# a value costs 50-100 bytes of memory and ~0.3 us, so 1M values stay near 100 MB and 0.3 s
# whatever the nesting. EfficientNetB7's config has 48,000 (about 60 per layer, so MAX_ROWS
# layers take 600,000).
MAX_JSON_VALUES = 1_000_000
# Digits of an integer in a JSON text: 20 holds any 64-bit integer. (Python refuses to parse
# more than 4,300 digits; Keras stores no integer beyond 64 bits.)
MAX_INT_DIGITS = 20

# Characters of a claim's written formula (`2 * (3*3*3) * 32`) in an audit claims file.
MAX_FORMULA_CHARS = 1000

# -- graph ---------------------------------------------------------------------------------------
# Rows of the analysed graph once nested models are inlined (a nested model called k times is
# k copies of its rows). Every pass and renderer is linear in the rows.
MAX_ROWS = 10_000
# Tensor references in all calls together (the graph's edges: a Concatenate of 3 tensors is 3).
MAX_EDGES = 4 * MAX_ROWS
# Models nested inside models (and nesting of call arguments).
MAX_NESTING = 64
# Rank of any tensor shape (numpy, hence every CPU backend, holds at most 64 dims).
MAX_RANK = 64
# Characters of a layer or model name as written, and of a row name (`outer/inner/layer`).
MAX_NAME_CHARS = 1024
# A tensor reference's call index and output index (`keras_history` [layer, call, output]).
MAX_INDEX = 4096

# -- numbers -------------------------------------------------------------------------------------
# A tensor size (input sizes, units, filters, kernel sizes, strides, ...): the largest int32.
MAX_SIZE = 2**31 - 1
# --batch.
MAX_BATCH = 2**31 - 1
# --dataset-size (samples per epoch).
MAX_DATASET_SIZE = 10**15
# Any count in a report (params, MACs, FLOPs, bytes of one row or a total), and a suggest budget
# or audit claim: 2**100 ~ 1.3e30, far above any hardware and far below what a float (1.8e308)
# or a JSON reader holds.
MAX_COUNT = 2**100


def cap_error(what: str, value: Any, cap: Any, cls: type[CnnCostError] = CnnCostError):
    """The one-line error for a value over a cap (a huge value is shown by its digit count)."""
    shown = (
        f"a {len(str(abs(value)))}-digit number"
        if isinstance(value, int) and abs(value) >= 10**30
        else repr(value)
    )
    return cls(f"{what} is {shown}, above cnncost's cap of {cap} (docs/limits.md)")


# -- the capped reader ---------------------------------------------------------------------------

_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a directory"),
)


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def check_regular(path: str | Path, what: str = "file") -> os.stat_result:
    """Refuse, before anything opens it, a path that is not a regular file (after links): a FIFO
    blocks forever, /dev/zero never ends, a device may act on being opened."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such file") from None
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(info.st_mode):
        raise ModelFileError(f"{path}: {_kind(info.st_mode)}, not a regular {what}")
    return info


def open_regular(path: str | Path, what: str = "file"):
    """A binary stream on a regular file: checked before opening, then opened non-blocking and
    checked again on the open descriptor (a FIFO swapped in between cannot block us)."""
    check_regular(path, what)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise ModelFileError(f"{path}: {_kind(mode)}, not a regular {what}")
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def read_capped(path: str | Path, limit: int, what: str = "file") -> bytes:
    """The bytes of a regular file, refusing it past `limit` bytes (read stops one byte past)."""
    with open_regular(path, what) as stream:
        try:
            data = stream.read(limit + 1)
        except OSError as exc:
            raise ModelFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise ModelFileError(f"{path}: larger than {limit} bytes (docs/limits.md)")
    return data


def read_text_capped(path: str | Path, limit: int = MAX_SIDE_FILE_BYTES, what="file") -> str:
    data = read_capped(path, limit, what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ModelFileError(f"{path}: not UTF-8 text") from None


# -- JSON ----------------------------------------------------------------------------------------


class _TooManyDigits(ValueError):
    pass


def _parse_int(text: str) -> int:
    if len(text) - text.startswith("-") > MAX_INT_DIGITS:
        raise _TooManyDigits(text)
    return int(text)


def loads_json(data: bytes | str, what: str) -> Any:
    """Parse untrusted JSON: at most MAX_JSON_VALUES values and MAX_INT_DIGITS digits per
    integer; every failure is one `ModelFileError` line starting with `what`. NaN/Infinity
    tokens parse (Keras writes them for some float fields); numbers are validated where used."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    values = data.count(b",") + data.count(b"[") + data.count(b"{")
    if values > MAX_JSON_VALUES:
        raise ModelFileError(
            f"{what} holds about {values} JSON values, above cnncost's cap of "
            f"{MAX_JSON_VALUES} (docs/limits.md)"
        )
    try:
        return json.loads(data.decode("utf-8"), parse_int=_parse_int)
    except _TooManyDigits as exc:
        digits = len(str(exc).lstrip("-"))
        raise ModelFileError(
            f"{what} holds a {digits}-digit integer, above cnncost's cap of {MAX_INT_DIGITS} "
            "digits (docs/limits.md)"
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{what} is not valid JSON ({exc})") from None
    except RecursionError:
        raise ModelFileError(f"{what} is nested too deeply") from None
    except ValueError as exc:  # anything else the decoder refuses
        raise ModelFileError(f"{what} is not valid JSON ({exc})") from None


def dumps_json(value: Any, **kwargs: Any) -> str:
    """JSON output: always RFC 8259. A NaN or an infinity (every number is bounded where it
    enters, so one is a bug) is a one-line error, never a `NaN` token in the output."""
    try:
        return json.dumps(value, allow_nan=False, **kwargs)
    except ValueError as exc:
        raise CnnCostError(f"cannot write the JSON output: {exc}") from None


# -- numbers -------------------------------------------------------------------------------------


def check_count(value: Any, what: str, cls: type[CnnCostError] = ModelConfigError) -> Any:
    """A count (params, MACs, FLOPs, bytes) within MAX_COUNT; None and symbols pass."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        if abs(value) > MAX_COUNT:
            raise cap_error(what, value, "2**100", cls)
    elif isinstance(value, float) and (not math.isfinite(value) or abs(value) > MAX_COUNT):
        raise cap_error(what, value, "2**100", cls)
    return value


def finite_number(value: Any, what: str, maximum: float | None = None) -> float:
    """A finite int/float (not bool), at most `maximum`; otherwise a one-line error."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CnnCostError(f"{what} must be a number, not {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise CnnCostError(f"{what} must be a finite number, not {value!r}")
    if maximum is not None and value > maximum:
        raise cap_error(what, value, maximum)
    return value


def parse_whole(text: str, what: str, maximum: int) -> int:
    """A positive whole number typed on the command line: 300000000, 3e8 or 300_000_000, at most
    `maximum` (checked on the digits, before any conversion that could overflow)."""
    cleaned = text.strip().replace("_", "").replace(",", "")
    if cleaned.isascii() and cleaned.isdigit():
        if len(cleaned.lstrip("0")) > len(str(maximum)):
            raise CnnCostError(f"{what} {text[:40]!r}... is above cnncost's cap of {maximum}")
        value = int(cleaned)
    else:
        try:
            if not cleaned.isascii():  # float() reads other scripts' digits; we do not
                raise ValueError(cleaned)
            number = float(cleaned)
        except ValueError:
            raise CnnCostError(f"{what}: not a number: {text[:40]!r}") from None
        if not math.isfinite(number):
            raise CnnCostError(f"{what} must be a finite number, not {text[:40]!r}")
        if number != int(number):
            raise CnnCostError(f"{what} must be a whole number, not {text[:40]!r}")
        if number > maximum:
            raise CnnCostError(f"{what} {text[:40]!r} is above cnncost's cap of {maximum}")
        value = int(number)
    if value < 1:
        raise CnnCostError(f"{what} must be positive, not {text[:40]!r}")
    if value > maximum:
        raise CnnCostError(f"{what} {text[:40]!r} is above cnncost's cap of {maximum}")
    return value
