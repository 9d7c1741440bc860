"""The good setup: every check ok."""

from __future__ import annotations

from tests.doctor.conftest import not_ok


def test_every_check_is_ok_on_the_good_setup(installation):
    found = installation.examine()
    for check in found.values():
        print(check.status, check.name, check.detail, "|", check.fix)
    assert not not_ok(found)
