"""What the suite needs from outside the repository: missing locally is a skip, missing in CI is a failure.

CI (any environment with `CI` set, as GitHub Actions and most CI services set it) installs everything
(`make test`) and checks out `../shared`; there a missing piece means parity, validator or pipeline tests
would silently not run, so it must turn the run red instead of green.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


def unavailable(message: str) -> NoReturn:
    """Skip the test (or module) with `message`; under CI, fail it instead."""
    if in_ci():
        pytest.fail(f"{message} -- CI is set, so this must be present", pytrace=False)
    pytest.skip(message, allow_module_level=True)


def require_module(name: str, reason: str) -> ModuleType:
    """`pytest.importorskip(name)`, except that under CI a module that does not import is a failure."""
    try:
        return importlib.import_module(name)
    except ImportError as err:
        unavailable(f"cannot import {name} ({err}); {reason}")
