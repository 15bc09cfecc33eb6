"""Read a `.keras` archive: only `config.json` and `metadata.json`, never the weights.

The file is untrusted. We read members with a size cap (a zip bomb or an oversized config stops
with an error instead of filling memory) and parse them as plain JSON; nothing in the file is
imported or executed, unless the caller opts in with `trust_model_code` for a model class that
only its own code can build (`keras_build`).
"""

from __future__ import annotations

import lzma
import zipfile
import zlib
from pathlib import Path
from typing import Any

from cnncost.errors import ModelFileError
from cnncost.ir import Graph
from cnncost.limits import MAX_CONFIG_BYTES, MAX_ZIP_MEMBERS, loads_json, open_regular
from cnncost.loaders.keras2 import normalize_config
from cnncost.loaders.keras_config import graph_from_config


def _read_member(archive: zipfile.ZipFile, member: str, path: Path) -> bytes:
    # Decompression is streamed and stops one byte past the cap, whatever the member claims.
    if archive.getinfo(member).flag_bits & 0x1:  # zip's "encrypted" bit: needs a password
        raise ModelFileError(f"{path}: {member} is encrypted in the archive")
    try:
        with archive.open(member) as stream:
            data = stream.read(MAX_CONFIG_BYTES + 1)
    except RuntimeError:  # zipfile's other "cannot extract" (e.g. a password it lacks)
        raise ModelFileError(f"{path}: {member} cannot be extracted from the archive") from None
    except NotImplementedError:
        raise ModelFileError(f"{path}: {member} uses an unsupported compression method") from None
    except (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError):
        # A bad CRC, a broken deflate/bzip2/lzma stream, or a member cut short.
        raise ModelFileError(f"{path}: {member} is corrupted in the archive") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ModelFileError(f"{path}: {member} is larger than {MAX_CONFIG_BYTES} bytes")
    return data


def _parse_json(data: bytes, member: str, path: Path) -> Any:
    return loads_json(data, f"{path}: {member}")


def _member_count(stream) -> int | None:
    """The entry count the end-of-central-directory record declares (None if unreadable):
    checked before `ZipFile` reads the whole central directory into memory."""
    try:
        record = zipfile._EndRecData(stream)  # the stdlib's own EOCD reader (zip64 aware)
        stream.seek(0)
    except (OSError, ValueError, AttributeError, zipfile.BadZipFile):
        return None
    return None if not record else record[zipfile._ECD_ENTRIES_TOTAL]


def _starts_like_zip(path: Path) -> bool:
    try:
        with open(path, "rb") as stream:
            return stream.read(2) == b"PK"
    except OSError:
        return False


def read_keras_archive(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (config, metadata) parsed from a `.keras` zip."""
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"{path}: no such file")
    if path.is_dir():
        raise ModelFileError(f"{path}: is a directory, not a .keras file")
    try:
        with open_regular(path, ".keras file") as stream:
            count = _member_count(stream)
            if count is not None and count > MAX_ZIP_MEMBERS:
                raise ModelFileError(
                    f"{path}: a zip of {count} members, above cnncost's cap of {MAX_ZIP_MEMBERS}"
                )
            archive = zipfile.ZipFile(stream)
            names = set(archive.namelist())
            if "config.json" not in names:
                raise ModelFileError(f"{path}: not a Keras model archive (no config.json inside)")
            config = _parse_json(_read_member(archive, "config.json", path), "config.json", path)
            metadata: Any = {}
            if "metadata.json" in names:
                metadata = _parse_json(
                    _read_member(archive, "metadata.json", path), "metadata.json", path
                )
    except zipfile.BadZipFile:
        if _starts_like_zip(path):
            raise ModelFileError(
                f"{path}: not a readable zip archive (truncated or corrupted)"
            ) from None
        raise ModelFileError(f"{path}: not a .keras file (not a zip archive)") from None
    except (zipfile.LargeZipFile, OSError, EOFError, NotImplementedError) as exc:
        raise ModelFileError(f"{path}: cannot read the archive ({exc})") from None
    if not isinstance(config, dict):
        raise ModelFileError(f"{path}: config.json does not hold a model configuration")
    return config, metadata if isinstance(metadata, dict) else {}


def load_keras_file(
    path: str | Path, trust_model_code: bool = False, input_shape: Any = None
) -> Graph:
    """The graph of a `.keras` file. A config that names a model class only its own code can
    build (a Functional subclass, a subclassed model) is built with Keras when
    `trust_model_code`, refused otherwise (`keras_build`); nothing is imported before that."""
    config, metadata = read_keras_archive(path)
    if str(metadata.get("keras_version", "")).startswith(("1.", "2.")):  # tf-keras's .keras
        config = normalize_config(config)
    from cnncost.loaders.keras_build import graph_from_code_built

    built = graph_from_code_built(config, str(path), trust_model_code, input_shape)
    if built is not None:
        return built
    return graph_from_config(config, source=str(path))
