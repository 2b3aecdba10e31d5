"""The password policy: length, a real list of common passwords (zxcvbn's 30,000 and the
bundled Chinese-context list), look-alike digits, and the account's own words."""

from __future__ import annotations

import pytest

from hall.auth.passwords import WeakPassword, check_policy, common_passwords

HALL_WORDS = ["王小明", "S01", "district", "区政务服务中心", "District Government Service Centre"]


def test_the_list_is_large_and_holds_both_sources() -> None:
    common = common_passwords()
    assert len(common) >= 30_000
    assert {"123456", "password", "dragon", "woaini1314"} <= common


@pytest.mark.parametrize("weak", [
    "short-pw",                 # too short
    "password1234",             # common, digits appended
    "P@ssw0rd12345",            # common, look-alike digits
    "qwertyuiop123",            # common keyboard walk
    "1q2w3e4r5t6y",             # common (zxcvbn list), not in the bundled file
    "iloveyou2026!!",           # common core with a year and symbols
    "woaini1314520",            # pinyin, bundled list
    "aaaaaaaaaaaaaa",           # one character
    "district-S01-secret",      # the user name
    "District2026!!",           # the hall's id
    "DistrictGovernmentServiceCentre",  # the hall's English name, whole
    "区政务服务中心2026ab",       # the hall's Chinese name
    "王小明的密码abc123",          # the display name
])
def test_weak_passwords_are_refused_with_a_reason(weak: str) -> None:
    with pytest.raises(WeakPassword) as refused:
        check_policy(weak, "district-S01", HALL_WORDS)
    assert refused.value.code == "weak_password" and refused.value.message


@pytest.mark.parametrize("fine", ["correct horse battery", "tv-7Kq!lantern-93",
                                  "蓝色的窗户与猫咪2026",
                                  "customer service rocks 9"])  # a common word of the name
def test_long_uncommon_passwords_pass(fine: str) -> None:
    check_policy(fine, "district-S01", HALL_WORDS)
