"""Running the real hearvalidator (HEAR 2021) on a module, as a user submitting it would."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from .requires import require_module


def assert_hearvalidator_passes(module: str, *options: str, cwd: Path) -> None:
    """`hear-validator MODULE OPTIONS... --device cpu` in `cwd` exits 0 and says "Looks good!"."""
    require_module("hearvalidator", "install with `make install-eval`")
    validator = shutil.which("hear-validator", path=str(Path(sys.executable).parent))
    result = subprocess.run(
        [validator, module, *options, "--device", "cpu"], capture_output=True, text=True, timeout=900, cwd=cwd
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Looks good!" in result.stdout
