"""Shared fixtures: where the read-only reference data lives (../shared beside the checkout in CI)."""

import os
from pathlib import Path

import pytest

SHARED = Path(os.environ.get("HEAR_SSL_SHARED", Path(__file__).resolve().parents[2] / "shared"))


@pytest.fixture(scope="session")
def shared_dir():
    if not SHARED.is_dir():
        pytest.skip(f"shared reference data not found at {SHARED} (set HEAR_SSL_SHARED)")
    return SHARED


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
        pytest.skip(f"official BYOL-A d512 checkpoint absent at {path}")
    return path


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: minutes on a shared CPU; still run in CI")
