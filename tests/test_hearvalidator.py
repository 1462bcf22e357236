"""The real hearvalidator (HEAR 2021) accepts every hear-ssl module."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .requires import require_module
from .test_hear_api import MODULES, random_weights

require_module("hearvalidator", "install with `make install-eval`")


@pytest.mark.parametrize("module", list(MODULES))
def test_hearvalidator_passes(module, tmp_path, byola_d512_checkpoint):
    weights = byola_d512_checkpoint if module == "hear_ssl.byol_a" else random_weights(tmp_path, MODULES[module])
    validator = shutil.which("hear-validator", path=str(Path(sys.executable).parent))
    result = subprocess.run(
        [validator, module, "--model", str(weights), "--device", "cpu"],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Looks good!" in result.stdout
