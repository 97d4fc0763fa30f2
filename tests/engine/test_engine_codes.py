"""The prepared-key HMAC gives exactly what the one-call functions give, for any key."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from verifier import codes


@pytest.mark.parametrize("size", [0, 1, 16, 32, 63, 64, 65, 200])
def test_keyed_matches_the_one_call_functions(size):
    key = bytes(range(256))[:size]
    keyed = codes.Keyed(key)
    for vid, code in (("ver_1", "123456"), ("v", "0000"), ("ver_ünï", "9999999999")):
        expected = hmac.new(key, f"{vid}:{code}".encode(), hashlib.sha256).hexdigest()
        assert keyed.code_hash(vid, code) == codes.code_hash(key, vid, code) == expected
        assert keyed.matches(vid, code, expected)
        assert not keyed.matches(vid, code + "1", expected)
        assert keyed.matches(vid, "１２３４５６", codes.code_hash(key, vid, "123456"))
        assert keyed.unseal(vid, keyed.seal(vid, code)) == code
        assert keyed.seal(vid, code) == codes.seal(key, vid, code)
    for e164 in ("+819012345678", "+14155550100"):
        assert keyed.pseudonym(e164) == codes.pseudonym(key, e164)
    assert codes.Keyed(key + b"x").pseudonym("+819012345678") != keyed.pseudonym("+819012345678")
