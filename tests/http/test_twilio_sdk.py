"""The official ``twilio`` SDK against a real ``smsverify serve``: the whole Verify flow.

Only the Verify domain's base URL and the credentials change; every call below is the
SDK's own, and every refusal arrives as its ``TwilioRestException`` with Twilio's number.
"""

from __future__ import annotations

import datetime
import re
import subprocess
import sys
from pathlib import Path

import pytest
from servekit import ADMIN_KEY, VERIFY_KEY, Server, jp_mobile, policy_toml, wrong_code
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

ACCOUNT = "AC" + "0123456789abcdef" * 2
API_KEY = "SK" + "fedcba9876543210" * 2
MAX_ATTEMPTS, MAX_SENDS = 3, 3
LANDLINE = "+81312345678"  # Tokyo, a fixed line
REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("twilio")
    srv = Server(
        workdir,
        store=f"sqlite:///{workdir / 'twilio.db'}",
        policy=policy_toml(
            check={"max_attempts": MAX_ATTEMPTS},
            send={"max_sends": MAX_SENDS, "resend_cooldown_s": [0]},
            fraud={"min_check_delay_s": 0},
            limits={
                "per_ip_per_hour": 0,
                "per_number_per_day": 0,
                "per_number_per_15min": 0,
                "failures_per_number_per_hour": 0,
            },
        ),
        name="twilio",
    )
    with srv:
        yield srv


def sdk(server: Server, user: str = ACCOUNT, secret: str = VERIFY_KEY) -> Client:
    """The SDK as an app would build it, pointed at the local server."""
    http = TwilioHttpClient()
    http.session.trust_env = False  # the test talks to 127.0.0.1 only, never via a proxy
    client = Client(user, secret, http_client=http)
    client.verify.base_url = server.base
    return client


@pytest.fixture(scope="module")
def service(server):
    return sdk(server).verify.v2.services.create(friendly_name="Shop")


def code_for(server: Server, e164: str) -> str:
    return server.admin.code_for(e164)


def refused(call) -> TwilioRestException:
    with pytest.raises(TwilioRestException) as caught:
        call()
    return caught.value


def test_services_are_created_fetched_and_listed(server, service):
    assert service.sid.startswith("VA") and len(service.sid) == 34
    assert service.friendly_name == "Shop" and service.code_length == 6
    assert isinstance(service.date_created, datetime.datetime)
    client = sdk(server)
    assert client.verify.v2.services(service.sid).fetch().sid == service.sid
    assert service.sid in [s.sid for s in client.verify.v2.services.list()]
    short = client.verify.v2.services.create(friendly_name="Short", code_length=4)
    assert short.code_length == 4
    err = refused(lambda: client.verify.v2.services("VA" + "0" * 32).fetch())
    assert (err.status, err.code) == (404, 20404)


def test_start_read_check_wrong_check_right(server, service):
    verify = sdk(server).verify.v2.services(service.sid)
    _, e164 = jp_mobile(41_000_001)
    started = verify.verifications.create(to=e164, channel="sms", locale="ja")
    assert started.sid.startswith("VE") and len(started.sid) == 34
    assert (started.status, started.valid, started.to, started.channel) == (
        "pending",
        False,
        e164,
        "sms",
    )
    assert len(started.send_code_attempts) == 1
    assert isinstance(started.date_created, datetime.datetime)
    read = verify.verifications(started.sid).fetch()
    assert (read.sid, read.status) == (started.sid, "pending")
    code = code_for(server, e164)
    wrong = verify.verification_checks.create(to=e164, code=wrong_code(code))
    assert (wrong.status, wrong.valid, wrong.sid) == ("pending", False, started.sid)
    right = verify.verification_checks.create(verification_sid=started.sid, code=code)
    assert (right.status, right.valid) == ("approved", True)
    assert verify.verifications(started.sid).fetch().status == "approved"
    err = refused(lambda: verify.verification_checks.create(to=e164, code=code))
    assert (err.status, err.code) == (404, 20404)


def test_cancel_and_approve_by_update(server, service):
    verify = sdk(server).verify.v2.services(service.sid)
    _, e164 = jp_mobile(41_000_002)
    started = verify.verifications.create(to=e164, channel="sms")
    cancelled = verify.verifications(started.sid).update(status="canceled")
    assert cancelled.status == "canceled"
    err = refused(lambda: verify.verification_checks.create(to=e164, code=code_for(server, e164)))
    assert err.code == 20404
    err = refused(lambda: verify.verifications(started.sid).update(status="canceled"))
    assert err.code == 20404
    again = verify.verifications.create(to=e164, channel="sms")
    assert again.sid != started.sid
    assert verify.verifications(again.sid).update(status="approved").status == "approved"


def test_max_check_attempts(server, service):
    verify = sdk(server).verify.v2.services(service.sid)
    _, e164 = jp_mobile(41_000_003)
    started = verify.verifications.create(to=e164, channel="sms")
    wrong = wrong_code(code_for(server, e164))
    answers = [
        verify.verification_checks.create(verification_sid=started.sid, code=wrong)
        for _ in range(MAX_ATTEMPTS)
    ]
    assert [a.valid for a in answers] == [False] * MAX_ATTEMPTS
    assert [a.status for a in answers][-1] == "max_attempts_reached"
    err = refused(lambda: verify.verification_checks.create(to=e164, code=wrong))
    assert (err.status, err.code) == (429, 60202)
    assert verify.verifications(started.sid).fetch().status == "max_attempts_reached"


def test_a_create_again_resends_until_max_send_attempts(server, service):
    verify = sdk(server).verify.v2.services(service.sid)
    _, e164 = jp_mobile(41_000_004)
    sends = [verify.verifications.create(to=e164, channel="sms") for _ in range(MAX_SENDS)]
    assert {v.sid for v in sends} == {sends[0].sid}
    assert [len(v.send_code_attempts) for v in sends] == list(range(1, MAX_SENDS + 1))
    assert len(server.admin("GET", "/sandbox/messages?to=%2B" + e164[1:]).body) == MAX_SENDS
    err = refused(lambda: verify.verifications.create(to=e164, channel="sms"))
    assert (err.status, err.code) == (429, 60203)
    latest = code_for(server, e164)
    check = verify.verification_checks.create(to=e164, code=latest)
    assert check.status == "approved"


def test_a_voice_call_then_an_sms_on_one_verification(server, service):
    """Channel=call reads the code out (the sandbox keeps the call's text); creating the
    verification again by SMS resends on the other channel, and each attempt says which."""
    verify = sdk(server).verify.v2.services(service.sid)
    _, e164 = jp_mobile(41_000_006)
    called = verify.verifications.create(to=e164, channel="call")
    assert (called.status, called.channel) == ("pending", "call")
    assert [a["channel"] for a in called.send_code_attempts] == ["call"]
    message = server.admin("GET", "/sandbox/messages?to=%2B" + e164[1:]).body[-1]
    assert message["channel"] == "call"
    assert ", ".join(message["code"]) in message["body"]  # the digits one by one
    again = verify.verifications.create(to=e164, channel="sms")
    assert again.sid == called.sid and again.channel == "sms"
    assert [a["channel"] for a in again.send_code_attempts] == ["call", "sms"]
    assert verify.verifications(called.sid).fetch().channel == "sms"
    check = verify.verification_checks.create(to=e164, code=code_for(server, e164))
    assert (check.status, check.valid, check.channel) == ("approved", True, "sms")


def test_refusals_carry_twilio_numbers(server, service):
    verify = sdk(server).verify.v2.services(service.sid)
    landline = refused(lambda: verify.verifications.create(to=LANDLINE, channel="sms"))
    assert (landline.status, landline.code) == (400, 60205)
    _, e164 = jp_mobile(41_000_005)
    email = refused(lambda: verify.verifications.create(to=e164, channel="email"))
    assert email.code == 60200 and "Channel" in email.msg
    custom = refused(lambda: verify.verifications.create(to=e164, channel="sms", custom_code="1"))
    assert custom.code == 60200 and "CustomCode" in custom.msg
    national = refused(lambda: verify.verifications.create(to="090-1234-5678", channel="sms"))
    assert national.code == 60200 and "To" in national.msg
    unknown = refused(lambda: verify.verifications("VE" + "0" * 32).fetch())
    assert (unknown.status, unknown.code) == (404, 20404)
    nothing = refused(lambda: verify.verification_checks.create(to=e164, code="123456"))
    assert nothing.code == 20404


def test_credentials(server, service):
    assert sdk(server, API_KEY, ADMIN_KEY).verify.v2.services(service.sid).fetch().sid
    for user, secret in ((ACCOUNT, "not-a-known-secret-0000"), ("someone", VERIFY_KEY)):
        client = sdk(server, user, secret)
        err = refused(lambda c=client: c.verify.v2.services(service.sid).fetch())
        assert (err.status, err.code) == (401, 20003)


OPERATIONS = (
    "CreateService",
    "ListService",
    "FetchService",
    "CreateVerification",
    "FetchVerification",
    "UpdateVerification",
    "CreateVerificationCheck",
)


def test_schemathesis_over_twilios_description(server, service, tmp_path):
    """A bounded fuzz of the operations served, against Twilio's published description.

    Only two checks apply: no 5xx, and no answer that its documented schema refutes.
    Twilio's description documents few error statuses, so a refusal (4xx) it does not
    list is not a violation. The ``ServiceSid`` of every operation is a real service, and
    the verification ``Sid`` of fetch and update a real verification, so the fuzz reaches
    the handlers and their 200 answers instead of stopping at 20404.
    """
    schema = REFERENCE / "twilio_verify_v2.json"
    verify = sdk(server).verify.v2.services(service.sid)
    read, update = (
        verify.verifications.create(to=jp_mobile(41_000_100 + n)[1], channel="sms").sid
        for n in range(2)
    )
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        f'[parameters]\n"path.ServiceSid" = "{service.sid}"\n'
        + "".join(
            f'[[operations]]\ninclude-operation-id = "{op}"\n'
            f'parameters = {{ "path.Sid" = "{sid}" }}\n'
            for op, sid in (("FetchVerification", read), ("UpdateVerification", update))
        )
    )
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(config),
        "run",
        str(schema),
        "--url",
        server.base,
        "--checks",
        "not_a_server_error,response_schema_conformance",
        "--max-examples",
        "25",
        "--request-timeout",
        "10",
        "--auth",
        f"{ACCOUNT}:{VERIFY_KEY}",
        "--report-dir",
        str(tmp_path),
    ]
    for operation in OPERATIONS:
        command += ["--include-operation-id", operation]
    run = subprocess.run(command, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    summary = run.stdout[-3000:]
    assert run.returncode == 0, summary
    counted = re.search(r"(\d+) generated, (\d+) passed", summary)
    assert counted and counted.group(1) == counted.group(2), summary
    assert re.search(rf"Tested: {len(OPERATIONS)}\b", summary), summary
    print(f"schemathesis (Twilio's description): {counted.group(0)}")
    assert '"status":5' not in server.log()
