"""Strict JSON in and out: atomic writes, and reads that turn heareval's `NaN`/`Infinity` into null.

heareval writes its score files with Python's default `json.dumps`, which emits the non-standard
tokens `NaN`, `Infinity` and `-Infinity` (e.g. an undefined sed_eval error rate). Browsers, `jq` and
most JSON parsers reject them, so everything the harness writes is strict JSON and everything it reads
from heareval passes through `read_json`, which maps those tokens to `None`.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from hear_ssl.io import atomic_write_json

_NON_FINITE = {"NaN": None, "Infinity": None, "-Infinity": None}


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file, mapping the non-standard `NaN`/`Infinity`/`-Infinity` tokens to `None`.

    Parameters
    ----------
    path : str or PathLike

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


def sanitize(value: Any) -> Any:
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


def write_json(path: str | os.PathLike, value: Any, indent: int | None = 2) -> None:
    """Write `value` as strict JSON, atomically (`hear_ssl.io.atomic_write_json`).

    Non-finite floats (nested anywhere) are written as `null` rather than raising.

    Parameters
    ----------
    path : str or PathLike
        Destination file; its folder is created if needed.
    value : object
        A JSON-able value; numpy/torch scalars are converted.
    indent : int or None
        Passed to `json.dumps`.
    """
    atomic_write_json(path, sanitize(value), indent=indent)
