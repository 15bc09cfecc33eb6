"""Every file cnncost writes goes through here: one check of the path, one atomic write.

The check (`check_output`, run before any analysis, so a bad path fails in a second, not after
a long run) refuses:

- a path that is, or lies inside, one of the command's inputs (the model file or SavedModel
  folder, a claims file, a device profile, a plugin): writing there would destroy the input;
- an existing file, unless the user passed `--force`;
- a folder, or a file name whose extension is not one the command writes (`plot --out x.txt`);
- a parent that is missing or is not a folder (unless the command creates it: `calibrate`'s
  profile folder), and a name that is empty.

The write (`write_output`) goes to a temporary file in the same folder, then is renamed over the
target: a failure (disk full, no permission) leaves no half-written file and never truncates the
file that was there. Without `force` the rename is a hard link, which fails if a file appeared
at the path since the check (no silent overwrite in a race). A path that exists but is no regular
file (`/dev/null`, a terminal, a FIFO with a reader) is written in place, never replaced.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from cnncost.errors import CnnCostError


def _same_or_inside(path: Path, source: Path) -> str:
    """ "is" when `path` is `source` (links and hard links included), "lies inside" when it is
    in the folder `source`, "" otherwise."""
    try:
        if os.path.exists(path) and os.path.samefile(path, source):
            return "is"
    except (OSError, ValueError):
        pass
    resolved, origin = os.path.realpath(path), os.path.realpath(source)
    if resolved == origin:
        return "is"
    if os.path.isdir(source) and os.path.commonpath([resolved, origin]) == origin:
        return "lies inside"
    return ""


def _shown(path: str | os.PathLike) -> str:
    """A path as an error message shows it: as typed when printable, else quoted with escapes
    (a newline or an escape sequence in a name never reaches the terminal raw)."""
    text = os.fspath(path)
    text = text if text.isprintable() else ascii(text)
    return text if len(text) <= 200 else text[:197] + "..."


NAME_MAX, PATH_MAX = 255, 4096  # bytes: Linux's limits for one name and a whole path


def _valid_name(text: str, option: str, what: str = "file") -> Path:
    """The path `text` names, refused in one line when no file system could hold it."""
    if not text.strip() or "\0" in text:
        raise CnnCostError(f"{option} needs a {what} name, not {_shown(text)}")
    try:
        encoded = os.fsencode(text)
    except UnicodeEncodeError:  # a lone surrogate: no file can have this name
        raise CnnCostError(f"{option} {_shown(text)} is not a valid {what} name") from None
    if len(encoded) > PATH_MAX or any(len(part) > NAME_MAX for part in encoded.split(b"/")):
        raise CnnCostError(
            f"{option}: the path is too long (a name over {NAME_MAX} bytes or the whole over "
            f"{PATH_MAX})"
        )
    return Path(text)


def _existing_ancestor(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if os.path.exists(candidate) or os.path.lexists(candidate):
            return candidate
    return Path(".")


def _refuse_inputs(target: Path, where: str, inputs: Iterable) -> None:
    """One line if `target` is one of the command's inputs or lies inside one."""
    for source in inputs:
        source_path = Path(os.fspath(source))
        what = _same_or_inside(target, source_path) if os.path.exists(source_path) else ""
        if what:
            raise CnnCostError(
                f"{where} {what} the input {_shown(source_path)}: refusing to write there"
            )


def check_output(
    path: str | os.PathLike,
    *,
    option: str = "--output",
    inputs: Iterable[str | os.PathLike] = (),
    force: bool = False,
    suffixes: tuple[str, ...] | None = None,
    create_parent: bool = False,
) -> Path:
    """`path` checked as a file the command may write (see the module docstring); one-line
    `CnnCostError` otherwise. `suffixes`: the extensions allowed (lower case, with the dot)."""
    text = os.fspath(path)
    target = _valid_name(text, option)
    where = f"{option} {_shown(text)}"
    _refuse_inputs(target, where, inputs)
    if os.path.isdir(target):
        raise CnnCostError(f"{where} is a folder: give a file name")
    if os.path.exists(target) and not os.path.isfile(target):
        return target  # /dev/null, a terminal, a FIFO: written in place, nothing to lose
    if suffixes is not None and target.suffix.lower() not in suffixes:
        raise CnnCostError(f"{where}: the file name must end in {' or '.join(suffixes)}")
    if os.path.isfile(target) and not force:
        raise CnnCostError(f"{where} exists: pass --force to overwrite it")
    parent = target.parent
    if create_parent:
        ancestor = _existing_ancestor(parent)
        if not os.path.isdir(ancestor):
            raise CnnCostError(f"{where}: {_shown(ancestor)} is not a folder")
        writable = os.path.isdir(parent) or os.access(ancestor, os.W_OK | os.X_OK)
    elif not os.path.isdir(parent):
        what = "does not exist" if not os.path.exists(parent) else "is not a folder"
        raise CnnCostError(f"{where}: the folder {_shown(parent)} {what}")
    else:
        writable = True
    if writable and os.path.isdir(parent):
        writable = _can_create_in(parent)
    if not writable:
        raise CnnCostError(f"{where}: cannot write in {_shown(parent)} (no permission)")
    return target


def _can_create_in(folder: Path) -> bool:
    """Whether a file can be created in `folder`, tried (permissions, read-only mounts and
    root's privileges all show), so a run fails before its work, not after."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".cnncost-probe.", dir=folder)
    except OSError:
        return False
    os.close(fd)
    os.unlink(probe)
    return True


def check_output_dir(
    path: str | os.PathLike, *, option: str, inputs: Iterable[str | os.PathLike] = ()
) -> Path:
    """A folder the command writes files into (created if missing): not a file, not an input,
    and no part of it a file. The files themselves go through `check_output`."""
    text = os.fspath(path)
    target = _valid_name(text, option, "folder")
    _refuse_inputs(target, f"{option} {_shown(text)}", inputs)
    ancestor = _existing_ancestor(target)
    if not os.path.isdir(ancestor):
        what = (
            "is a file" if ancestor == target else f"is inside {_shown(ancestor)}, which is a file"
        )
        raise CnnCostError(f"{option} {_shown(text)} {what}: give a folder")
    return target


def write_output(
    path: str | os.PathLike,
    data: str | bytes,
    *,
    force: bool = False,
    create_parent: bool = False,
) -> Path:
    """Write `data` (text as UTF-8) to `path` atomically; one-line `CnnCostError` on failure."""
    target = Path(os.fspath(path))
    payload = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    try:
        if create_parent:
            target.parent.mkdir(parents=True, exist_ok=True)
        if os.path.exists(target) and not os.path.isfile(target):
            _write_in_place(target, payload)
            return target
        _write_atomic(target, payload, force)
    except CnnCostError:
        raise
    except (OSError, ValueError) as exc:  # ValueError: a name no file system can hold
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise CnnCostError(f"cannot write {_shown(target)}: {reason}") from None
    return target


def _write_in_place(target: Path, payload: bytes) -> None:
    """A device or FIFO: opened without blocking (a FIFO nobody reads is an error, not a hang)."""
    if os.path.isdir(target):
        raise CnnCostError(f"cannot write {_shown(target)}: is a folder")
    try:
        fd = os.open(target, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a FIFO that nobody reads
            raise CnnCostError(f"cannot write {_shown(target)}: a FIFO with no reader") from None
        raise
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            os.set_blocking(fd, True)
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def _write_atomic(target: Path, payload: bytes, force: bool) -> None:
    fd, temporary = tempfile.mkstemp(
        prefix=f".{target.name[:64]}.", suffix=".tmp", dir=target.parent
    )
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(payload)
            stream.flush()
            os.fsync(stream.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # what open() would have made (mkstemp: 0600)
        if force:
            os.replace(temporary, target)
            return
        try:
            os.link(temporary, target)  # fails if the file appeared since the check
        except FileExistsError:
            raise CnnCostError(f"{_shown(target)} exists: pass --force to overwrite it") from None
        except OSError:  # a file system without hard links
            if os.path.exists(target):
                raise CnnCostError(
                    f"{_shown(target)} exists: pass --force to overwrite it"
                ) from None
            os.replace(temporary, target)
    finally:
        if os.path.lexists(temporary):
            os.unlink(temporary)
