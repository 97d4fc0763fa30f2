"""``smsverify serve`` itself: configuration checked before listening, start-up findings, key."""

from __future__ import annotations

import subprocess
import sys

import pytest
from servekit import jp_mobile


def serve(*args: str, cwd) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "smsverify", "serve", "--port", "1", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=cwd)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--store", "memory://", "--workers", "2"), "workers"),
        (("--store", "ftp://nowhere"), "store"),
        (("--sender", "carrier-pigeon"), "sender"),
        (("--policy", "missing.toml"), "policy"),
        (("--workers", "0"), "workers"),
    ],
)
def test_bad_configuration_exits_2_naming_it(args, named, tmp_path):
    run = serve(*args, cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    assert f"invalid configuration: {named}" in run.stderr


def test_unknown_policy_key_exits_2(tmp_path):
    (tmp_path / "p.toml").write_text("[code]\nttl = 5\n")
    run = serve("--policy", str(tmp_path / "p.toml"), cwd=tmp_path)
    assert run.returncode == 2 and "code.ttl" in run.stderr


def test_start_up_prints_non_conformities_and_honours_the_hmac_key(server, toml, tmp_path):
    store = f"sqlite:///{tmp_path / 'keyed.db'}"
    policy = toml(code={"ttl_s": 900}, fraud={"min_check_delay_s": 0})
    key = {"SMSVERIFY_HMAC_KEY": "11" * 32}
    first = server(store=store, policy=policy, env=key)
    assert "code.ttl_s = 900 exceeds 600 s" in first.log()
    phone, e164 = jp_mobile(50_000_001)
    ver = first.api.start(phone, "keyed").body
    code = first.api.code_for(e164)
    first.stop()
    # Another key: the stored hash no longer matches the code.
    other = server(store=store, policy=policy, env={"SMSVERIFY_HMAC_KEY": "another key"})
    assert other.api.check(ver["id"], code).code == "incorrect_code"
    other.stop()
    same = server(store=store, policy=policy, env=key)
    assert same.api.check(ver["id"], code).status == 200
