"""Voice calls through a real server and the fake gateway, both their own processes: a
landline takes a call, the call queues on the voice lines and lands in the phone's inbox
with the code heard, and that code approves; SMS to the landline stay refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from servekit import Server, free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = """
name = "voice-test"
duration_s = 60
[gateway]
channels = 2
service_time = { dist = "fixed", value_s = 0.05 }
[voice]
channels = 1
service_time = { dist = "fixed", value_s = 0.3 }
unanswered_rate = 0.0
"""
LANDLINE, LANDLINE_E164 = "03-1234-5678", "+81312345678"
MOBILE, MOBILE_E164 = "090-3300-0001", "+819033000001"


def _get(url: str) -> object:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.loads(answer.read())


@pytest.fixture
def gateway(tmp_path):
    scenario = tmp_path / "voice.toml"
    scenario.write_text(SCENARIO)
    port = free_port()
    command = [sys.executable, "-m", "loadtests.gateway", "--scenario", str(scenario)]
    proc = subprocess.Popen(
        [*command, "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return _get(base + "/healthz") is not None
        except OSError:
            return False

    try:
        wait_for(up, 20, "the fake gateway")
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


def _inbox(gateway: str, e164: str, wait_s: float = 5) -> list[dict]:
    return _get(f"{gateway}/inbox/{e164}?after=0&wait_s={wait_s}")


def test_a_call_through_the_server_and_the_fake_gateway(gateway, tmp_path):
    policy = "[fraud]\nmin_check_delay_s = 0\n[voice]\ncooldown_s = 0\n"
    with Server(
        tmp_path, store=f"sqlite:///{tmp_path / 'voice.db'}", policy=policy, sender=gateway
    ) as srv:
        api = srv.api
        sms = api.start(LANDLINE, "acct-1")
        assert sms.status == 422 and sms.code == "unsupported_number_type", sms.body

        call = api.start(LANDLINE, "acct-1", channel="call")
        assert call.status == 201 and call.body["channel"] == "call", call.body
        heard = wait_for(lambda: _inbox(gateway, LANDLINE_E164), 20, "the call")
        assert heard[-1]["channel"] == "call" and len(heard[-1]["code"]) == 6
        assert ", ".join(heard[-1]["code"]) in heard[-1]["body"]

        resend = api("POST", f"/v1/verifications/{call.body['id']}/resend", {"channel": "sms"})
        assert resend.status == 422 and resend.code == "unsupported_number_type"
        again = api("POST", f"/v1/verifications/{call.body['id']}/resend", {"channel": "call"})
        assert again.status == 200 and again.body["calls_left"] == 0, again.body
        heard = wait_for(lambda: _inbox(gateway, LANDLINE_E164)[1:], 20, "the second call")
        answer = api.check(call.body["id"], heard[-1]["code"])
        assert answer.status == 200 and answer.body["status"] == "approved", answer.body

        # A mobile number: an SMS first, then a call on the same verification.
        first = api.start(MOBILE, "acct-2")
        assert first.status == 201 and first.body["channel"] == "sms"
        wait_for(lambda: _inbox(gateway, MOBILE_E164), 20, "the SMS")
        by_call = api("POST", f"/v1/verifications/{first.body['id']}/resend", {"channel": "call"})
        assert by_call.status == 200 and by_call.body["channel"] == "call", by_call.body
        inbox = wait_for(lambda: _inbox(gateway, MOBILE_E164)[1:], 20, "the call")
        assert [m["channel"] for m in _inbox(gateway, MOBILE_E164)] == ["sms", "call"]
        assert api.check(first.body["id"], inbox[-1]["code"]).status == 200

    stats = _get(gateway + "/stats")
    assert stats["calls"]["delivered"] == 3 and stats["delivered"] == 1


def test_delivery_receipts_through_the_server_and_the_fake_gateway(gateway, tmp_path):
    """The gateway reports queued, sent and delivered; the resource shows the state."""
    with Server(tmp_path, store=f"sqlite:///{tmp_path / 'dlr.db'}", sender=gateway) as srv:
        api = srv.api
        ver = api.start(MOBILE, "acct-3").body
        assert ver["delivery"]["state"] == "queued", ver

        def delivered():
            body = api.get(ver["id"]).body
            return body if body["delivery"]["state"] == "delivered" else None

        body = wait_for(delivered, 20, "the delivery receipt")
        d = body["delivery"]
        assert d["queued_at"] <= d["sent_at"] <= d["delivered_at"]
        assert d["failed_at"] is None and d["expected_wait_s"] is None

        forged = api.as_(None)(
            "POST", f"/v1/delivery-receipts/{ver['id']}.1.{'0' * 32}", {"state": "failed"}
        )
        assert forged.status == 404 and forged.code == "not_found", forged.body
        assert api.get(ver["id"]).body["delivery"]["state"] == "delivered"
