"""Shared fixtures: where the read-only reference data lives (../shared beside the checkout in CI).

Without it the tests that need it skip, except under CI (`CI` set), where they fail (see `tests/requires.py`).
"""

import os
from pathlib import Path

import pytest

from .requires import unavailable


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true", help="also run the tests marked slow (`make test` and CI do)")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: heavier tests (minutes); `make test` and CI run them, plain pytest skips")


def pytest_collection_modifyitems(config, items):
    # A plain local `pytest` stays quick; `make test` passes --slow, and CI (`CI` set) runs everything.
    if config.getoption("--slow") or os.environ.get("CI"):
        return
    skip = pytest.mark.skip(reason="slow test: run with --slow (make test does)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


SHARED = Path(os.environ.get("HEAR_SSL_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def existing_shared_dir(path: Path = SHARED) -> Path:
    """`path` if it is a folder; otherwise skip the test, or fail it under CI."""
    if not path.is_dir():
        unavailable(f"shared reference data not found at {path} (set HEAR_SSL_SHARED)")
    return path


@pytest.fixture(scope="session")
def shared_dir():
    return existing_shared_dir()


@pytest.fixture(scope="session")
def reference_dir(shared_dir):
    return shared_dir / "reference"


@pytest.fixture(scope="session")
def hear_tasks_dir(shared_dir):
    return shared_dir / "hear-tasks"


@pytest.fixture(scope="session")
def byola_d512_checkpoint(reference_dir):
    path = reference_dir / "AudioNTT2020-BYOLA-64x96d512.pth"
    if not path.is_file():
        unavailable(f"official BYOL-A d512 checkpoint absent at {path}")
    return path


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: heavier tests (they still run in CI)")
