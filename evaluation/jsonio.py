"""Strict JSON in and out: atomic writes, and reads that turn heareval's `NaN`/`Infinity` into null.

heareval writes its score files with Python's default `json.dumps`, which emits the non-standard
tokens `NaN`, `Infinity` and `-Infinity` (e.g. an undefined sed_eval error rate). Browsers, `jq` and
most JSON parsers reject them, so everything the harness writes is strict JSON and everything it reads
from heareval passes through `read_json`, which maps those tokens to `None`.
"""

import json
import math
import os
import tempfile
from pathlib import Path

_NON_FINITE = {"NaN": None, "Infinity": None, "-Infinity": None}


def read_json(path):
    """Read a JSON file, mapping the non-standard `NaN`/`Infinity`/`-Infinity` tokens to `None`.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    object
        The parsed document.

    Raises
    ------
    ValueError
        If the file is not JSON; the message names the file.
    """
    path = Path(path)
    try:
        return json.loads(path.read_text(), parse_constant=_NON_FINITE.__getitem__)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None


def sanitize(value):
    """Return `value` with every non-finite float (nested in dicts/lists/tuples) replaced by `None`."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): sanitize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [sanitize(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return sanitize(value.item())
    return value


def write_json(path, value, indent=2):
    """Write strict JSON atomically: a temp file in the same folder, fsync, then `os.replace`.

    A reader (or a resumed run after `kill -9`) sees either the old file or the complete new one,
    never a truncated file. Non-finite floats are written as `null`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(sanitize(value), indent=indent, allow_nan=False, sort_keys=False) + "\n"
    write_text_atomic(path, text)


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path, text):
    """Write `text` to `path` atomically (temp file in the same folder, fsync, `os.replace`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
