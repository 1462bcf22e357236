"""Missing reference data or evaluation packages: a skip on a developer's machine, a failure in CI."""

import pytest

from .conftest import existing_shared_dir
from .requires import require_module, unavailable


def test_unavailable_skips_locally_and_fails_in_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no data"):
        unavailable("no data")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no data -- CI is set"):
        unavailable("no data")


def test_require_module_returns_the_module_or_fails_in_ci(monkeypatch):
    monkeypatch.setenv("CI", "1")
    assert require_module("json", "stdlib").dumps([]) == "[]"
    with pytest.raises(pytest.fail.Exception, match="cannot import hear_ssl_no_such_module"):
        require_module("hear_ssl_no_such_module", "a module that does not exist")


def test_missing_shared_folder_is_an_error_under_ci(tmp_path, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    assert existing_shared_dir(tmp_path) == tmp_path
    with pytest.raises(pytest.skip.Exception, match="shared reference data not found"):
        existing_shared_dir(tmp_path / "absent")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="shared reference data not found .* CI is set"):
        existing_shared_dir(tmp_path / "absent")
