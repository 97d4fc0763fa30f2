"""The /v2 error table: every code of ours has a Twilio number, and the body is Twilio's."""

from __future__ import annotations

import json

from verifier.errors import ERRORS, LockedOut
from verifier.http.problems import CODES
from verifier.http.twilio.errors import TWILIO, InvalidParameter, response


def test_every_code_of_ours_has_a_twilio_row():
    assert set(TWILIO) == set(CODES)
    assert set(ERRORS) <= set(TWILIO)


def test_twilio_numbers_where_the_issue_names_them():
    expected = {
        "invalid_phone_number": 60200,
        "invalid_request": 60200,
        "locked_out": 60202,
        "max_sends_reached": 60203,
        "not_found": 20404,
        "unsupported_number_type": 60205,
        "abnormal_operation": 60410,
        "unauthenticated": 20003,
    }
    assert {code: TWILIO[code].code for code in expected} == expected


def test_the_body_is_twilios_and_never_rfc9457():
    """The SDK raises TwilioRestException only for a body without ``type`` and ``title``."""
    answer = response(LockedOut(retry_after_s=12.2))
    body = json.loads(answer.body)
    assert set(body) == {"code", "message", "more_info", "status"}
    assert body["more_info"].endswith("/60202") and body["status"] == answer.status_code == 429
    assert answer.headers["Retry-After"] == "13"
    named = json.loads(response(InvalidParameter("Channel", "only sms")).body)
    assert named["code"] == 60200 and named["message"].startswith("Invalid parameter `Channel`")
