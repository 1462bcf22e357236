"""The real hearvalidator (HEAR 2021) accepts every hear-ssl module."""

import pytest

from .requires import require_module
from .test_hear_api import MODULES, random_weights
from .validator_support import assert_hearvalidator_passes

require_module("hearvalidator", "install with `make install-eval`")


@pytest.mark.parametrize("module", list(MODULES))
def test_hearvalidator_passes(module, tmp_path, byola_d512_checkpoint):
    weights = byola_d512_checkpoint if module == "hear_ssl.byol_a" else random_weights(tmp_path, MODULES[module])
    assert_hearvalidator_passes(module, "--model", str(weights), cwd=tmp_path)
