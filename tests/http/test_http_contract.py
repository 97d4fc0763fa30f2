"""The v1 HTTP contract of DESIGN.md, in process on a manual clock.

Every code of the error table is produced through HTTP and answered with its status and
an RFC 9457 problem body whose ``title`` is the engine's user-facing message.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import KEYRING
from servekit import ADMIN_KEY, VERIFY_KEY, bearer

from verifier import ERRORS
from verifier.http.problems import HTTP_ONLY, UnknownRoute

VERIFY_SECRET = VERIFY_KEY
CLASSES = {**ERRORS, **{cls.code: cls for cls in HTTP_ONLY}}

PHONE, E164, MASKED = "090-1234-5678", "+819012345678", "+81 90-****-5678"
OTHER, OTHER_E164 = "080-2345-6789", "+818023456789"
PROBLEM_KEYS = {"type", "code", "title", "status", "detail"}


def start(svc, phone=PHONE, account="acct-1", **extra):
    body = {"phone": phone, "country": "JP", "account_id": account, **extra}
    return svc.client.post("/v1/verifications", json=body)


def check(svc, verification_id, code, **extra):
    return svc.client.post(f"/v1/verifications/{verification_id}/check", json={"code": code})


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def assert_problem(response, code: str, retry_after: bool | None = None, title=None) -> dict:
    """``response`` is the problem ``code`` with its status, title and (maybe) Retry-After."""
    body = response.json()
    assert response.headers["content-type"] == "application/problem+json", response.text
    assert body["code"] == code, body
    assert response.status_code == body["status"] == CLASSES[code].http_status
    assert body["title"] == (title or CLASSES[code].message)
    assert set(body) >= PROBLEM_KEYS
    if retry_after is True:
        assert int(response.headers["retry-after"]) >= 1
        assert body["retry_after_s"] > 0
    elif retry_after is False:
        assert "retry-after" not in response.headers
    return body


def test_full_flow(service):
    """Start, repeat (200, no SMS), check wrong then right, bind, read, release."""
    svc = service()
    first = start(svc, reference="order-42")
    assert first.status_code == 201
    ver = first.json()
    assert first.headers["location"] == f"/v1/verifications/{ver['id']}"
    assert ver["status"] == "pending" and ver["reference"] == "order-42"
    assert ver["phone"] == MASKED  # the verify scope sees numbers masked
    assert svc.admin.get(f"/v1/verifications/{ver['id']}").json()["phone"] == E164
    assert ver["attempts_left"] == 5 and ver["sends_left"] == 4
    again = start(svc, reference="order-42")
    assert again.status_code == 200 and again.json()["id"] == ver["id"]
    messages = svc.admin.get("/sandbox/messages", params={"to": E164}).json()
    assert len(messages) == 1 and messages[0]["verification_id"] == ver["id"]
    code = messages[-1]["code"]
    assert check(svc, ver["id"], wrong(code)).json()["attempts_left"] == 4
    approved = check(svc, ver["id"], code)
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert svc.client.get(f"/v1/verifications/{ver['id']}").json()["status"] == "approved"
    bound = svc.client.put("/v1/accounts/acct-1/phone-number", json={"verification_id": ver["id"]})
    assert bound.status_code == 200
    assert bound.json() == {"account_id": "acct-1", "phone": MASKED, "bound": True}
    assert svc.client.get("/v1/accounts/acct-1/phone-number").json()["phone"] == MASKED
    assert svc.admin.get("/v1/accounts/acct-1/phone-number").json()["phone"] == E164
    assert_problem(svc.client.delete("/v1/accounts/acct-1/phone-number"), "forbidden")
    released = svc.admin.delete("/v1/accounts/acct-1/phone-number")
    assert released.status_code == 200 and released.json()["bound"] is False
    assert_problem(svc.client.get("/v1/accounts/acct-1/phone-number"), "not_found")


def test_sandbox_reads_a_plus_sent_unencoded(service):
    """A query string ``to=+81…`` decodes the + to a space; the sandbox still finds it."""
    svc = service()
    start(svc)
    answer = svc.admin.get("/sandbox/messages?to=+819012345678")
    assert answer.status_code == 200 and len(answer.json()) == 1


def test_cancel(service):
    svc = service()
    ver = start(svc).json()
    cancelled = svc.client.delete(f"/v1/verifications/{ver['id']}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert_problem(svc.client.delete(f"/v1/verifications/{ver['id']}"), "verification_not_pending")


def _registered(service):
    svc = service()
    ver = start(svc, account="owner").json()
    check(svc, ver["id"], svc.code_for(E164))
    svc.client.put("/v1/accounts/owner/phone-number", json={"verification_id": ver["id"]})
    return start(svc, account="someone-else"), None


def _resend_too_soon(service):
    svc = service()
    ver = start(svc).json()
    return svc.client.post(f"/v1/verifications/{ver['id']}/resend"), True


def _max_sends(service):
    svc = service({"send.max_sends": 2, "send.resend_cooldown_s": [0]})
    ver = start(svc).json()
    assert svc.client.post(f"/v1/verifications/{ver['id']}/resend").status_code == 200
    return svc.client.post(f"/v1/verifications/{ver['id']}/resend"), False


def _rate_limited(service):
    svc = service({"limits.per_ip_per_hour": 1})
    assert start(svc).status_code == 201
    return start(svc, phone=OTHER, account="acct-2"), True


def _incorrect(service):
    svc = service()
    ver = start(svc).json()
    answer = check(svc, ver["id"], wrong(svc.code_for(E164)))
    assert answer.json()["attempts_left"] == 4
    return answer, False


def _expired(service):
    svc = service({"code.ttl_s": 60})
    ver = start(svc).json()
    svc.clock.advance(61)
    return check(svc, ver["id"], svc.code_for(E164)), False


def _locked(service):
    svc = service({"check.max_attempts": 2})
    ver = start(svc).json()
    code = svc.code_for(E164)
    check(svc, ver["id"], wrong(code))
    last = check(svc, ver["id"], wrong(code))
    assert last.json()["code"] == "incorrect_code" and last.json()["attempts_left"] == 0
    return check(svc, ver["id"], code), True


def _not_pending(service):
    svc = service()
    ver = start(svc).json()
    code = svc.code_for(E164)
    assert check(svc, ver["id"], code).status_code == 200
    return check(svc, ver["id"], code), False


def _approved(svc, reference="order-1"):
    ver = start(svc, reference=reference).json()
    assert check(svc, ver["id"], svc.code_for(E164)).status_code == 200
    return ver


def _consume(svc, ver, reference):
    return svc.client.post(f"/v1/verifications/{ver['id']}/consume", json={"reference": reference})


def _reference_mismatch(service):
    svc = service()
    return _consume(svc, _approved(svc), "order-2"), False


def _approval_expired(service):
    svc = service({"check.approval_ttl_s": 60})
    ver = _approved(svc)
    svc.clock.advance(61)
    return _consume(svc, ver, "order-1"), False


def _already_consumed(service):
    svc = service()
    ver = _approved(svc)
    first = _consume(svc, ver, "order-1")
    assert first.status_code == 200 and first.json()["status"] == "consumed"
    return _consume(svc, ver, "order-1"), False


def _abnormal(service):
    svc = service({"fraud.min_check_delay_s": 1.0})
    ver = start(svc).json()
    answer = check(svc, ver["id"], svc.code_for(E164))
    assert svc.client.get(f"/v1/verifications/{ver['id']}").json()["status"] == "cancelled"
    return answer, False


def _stepup_refused(service):
    svc = service({"stepup.refuse_at_points": 1})
    return start(svc, payment={"amount": 90000, "currency": "JPY"}), False


SCENARIOS = {
    "invalid_phone_number": lambda service: (start(service(), phone="12"), False),
    "unsupported_number_type": lambda service: (start(service(), phone="050-1234-5678"), False),
    "country_not_allowed": lambda service: (
        start(service({"numbers.denied_countries": ["JP"]})),
        False,
    ),
    "phone_number_already_registered": _registered,
    "resend_too_soon": _resend_too_soon,
    "max_sends_reached": _max_sends,
    "rate_limited": _rate_limited,
    "incorrect_code": _incorrect,
    "code_expired": _expired,
    "locked_out": _locked,
    "verification_not_pending": _not_pending,
    "abnormal_operation": _abnormal,
    "stepup_refused": _stepup_refused,
    "reference_mismatch": _reference_mismatch,
    "approval_expired": _approval_expired,
    "already_consumed": _already_consumed,
    "not_found": lambda service: (service().client.get("/v1/verifications/ver_nope"), False),
    "invalid_request": lambda service: (
        service().client.post("/v1/verifications", json={"phone": 9012345678}),
        False,
    ),
}


def test_every_code_has_a_scenario():
    assert set(SCENARIOS) == set(ERRORS)


@pytest.mark.parametrize("code", list(ERRORS))
def test_error_table(service, code):
    """Each contract code: its HTTP status, a problem body, Retry-After where it applies."""
    response, retry_after = SCENARIOS[code](service)
    body = assert_problem(response, code, retry_after)
    if code == "unsupported_number_type":
        assert body["detail"] == "VOIP"
    if code == "incorrect_code":
        assert body["attempts_left"] == 4


def test_phone_number_lookup(service):
    svc = service()
    mobile = svc.client.get(f"/v1/phone-numbers/{PHONE}", params={"country": "JP"})
    assert mobile.json() == {
        "e164": E164,
        "region": "JP",
        "type": "MOBILE",
        "verifiable": True,
        "reason": None,
    }
    voip = svc.client.get("/v1/phone-numbers/%2B815012345678").json()
    assert voip["verifiable"] is False and voip["reason"] == "unsupported_number_type"
    assert_problem(svc.client.get("/v1/phone-numbers/not-a-number"), "invalid_phone_number")


def test_disputes(service):
    """A recycled number: a claimant disputes, support releases it, the claimant verifies."""
    svc = service()
    ver = start(svc, account="old-owner").json()
    check(svc, ver["id"], svc.code_for(E164))
    svc.client.put("/v1/accounts/old-owner/phone-number", json={"verification_id": ver["id"]})
    claim = {"phone": PHONE, "country": "JP", "claimant": "new"}
    assert_problem(svc.client.post("/v1/disputes", json=claim), "forbidden")  # support only
    opened = svc.admin.post("/v1/disputes", json=claim)
    assert opened.status_code == 201
    dispute = opened.json()
    assert dispute["status"] == "open" and "owner" not in dispute
    assert svc.admin.get(f"/v1/disputes/{dispute['id']}").json() == dispute
    resolved = svc.admin.post(f"/v1/disputes/{dispute['id']}/resolve", json={"decision": "release"})
    assert resolved.status_code == 200 and resolved.json()["decision"] == "release"
    assert_problem(svc.client.get("/v1/accounts/old-owner/phone-number"), "not_found")
    assert start(svc, account="new").status_code == 201
    again = svc.admin.post(f"/v1/disputes/{dispute['id']}/resolve", json={"decision": "reject"})
    assert_problem(again, "verification_not_pending")
    unregistered = {"phone": OTHER, "country": "JP", "claimant": "x"}
    assert_problem(svc.admin.post("/v1/disputes", json=unregistered), "not_found")
    bad = svc.admin.post(f"/v1/disputes/{dispute['id']}/resolve", json={"decision": "maybe"})
    assert_problem(bad, "invalid_request")
    assert_problem(svc.admin.get("/v1/disputes/dsp_nope"), "not_found")


def test_under_never_disputes_answer_alike(service):
    svc = service({"numbers.reveal_registered": "never"})
    ver = start(svc, account="owner").json()
    check(svc, ver["id"], svc.code_for(E164))
    svc.client.put("/v1/accounts/owner/phone-number", json={"verification_id": ver["id"]})
    registered = svc.admin.post(
        "/v1/disputes", json={"phone": PHONE, "country": "JP", "claimant": "a"}
    )
    free = svc.admin.post("/v1/disputes", json={"phone": OTHER, "country": "JP", "claimant": "b"})
    assert registered.status_code == free.status_code == 201
    strip = ("id", "phone", "claimant", "opened_at")
    assert {k: v for k, v in registered.json().items() if k not in strip} == {
        k: v for k, v in free.json().items() if k not in strip
    }


def test_idempotency_key(service):
    """Same key and body: the same answer and one SMS; another body: invalid_request."""
    svc = service()
    headers = {"Idempotency-Key": "order-42-attempt-1"}
    body = {"phone": PHONE, "country": "JP", "account_id": "acct-1"}
    first = svc.client.post("/v1/verifications", json=body, headers=headers)
    second = svc.client.post("/v1/verifications", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert len(svc.sandbox.messages(E164)) == 1
    other = svc.client.post("/v1/verifications", json={**body, "account_id": "x"}, headers=headers)
    assert_problem(other, "invalid_request")
    odd = svc.client.post("/v1/verifications", json=body, headers={"Idempotency-Key": "a b"})
    assert_problem(odd, "invalid_request")


def test_idempotency_key_does_not_keep_refusals(service):
    svc = service({"limits.per_ip_per_hour": 1})
    start(svc, phone=OTHER, account="acct-0")
    headers = {"Idempotency-Key": "k1"}
    body = {"phone": PHONE, "country": "JP", "account_id": "acct-1"}
    assert_problem(svc.client.post("/v1/verifications", json=body, headers=headers), "rate_limited")
    svc.clock.advance(3601)
    assert svc.client.post("/v1/verifications", json=body, headers=headers).status_code == 201


def test_trusted_proxy_header(service):
    """The right-most untrusted address of every field line counts; only from a trusted peer."""
    limits = {"limits.per_ip_per_hour": 1}
    trusting = service(limits, trusted_proxy_header="X-Forwarded-For")
    spoof = {"X-Forwarded-For": "9.9.9.9, 203.0.113.7"}
    body = {"phone": PHONE, "country": "JP", "account_id": "a"}
    assert trusting.client.post("/v1/verifications", json=body, headers=spoof).status_code == 201
    other_ip = {"X-Forwarded-For": "203.0.113.8"}
    body2 = {"phone": OTHER, "country": "JP", "account_id": "b"}
    assert (
        trusting.client.post("/v1/verifications", json=body2, headers=other_ip).status_code == 201
    )
    # Two field lines: the last one's right-most address is the nearest hop.
    same_ip = [("X-Forwarded-For", "203.0.113.9"), ("X-Forwarded-For", "1.1.1.1, 203.0.113.7")]
    body3 = {"phone": "070-1111-2222", "country": "JP", "account_id": "c"}
    refused = trusting.client.post("/v1/verifications", json=body3, headers=same_ip)
    assert_problem(refused, "rate_limited")

    plain = service(limits)  # no header configured: the credential is the subject
    assert plain.client.post("/v1/verifications", json=body, headers=spoof).status_code == 201
    ignored = plain.client.post("/v1/verifications", json=body2, headers=other_ip)
    assert_problem(ignored, "rate_limited")


def test_a_header_from_an_untrusted_peer_is_ignored(service):
    from verifier.http.clients import parse_networks

    limits = {"limits.per_ip_per_hour": 1}
    svc = service(
        limits,
        trusted_proxy_header="X-Forwarded-For",
        trusted_proxies=parse_networks("10.0.0.0/8"),  # the test client is 127.0.0.1
    )
    body = {"phone": PHONE, "country": "JP", "account_id": "a"}
    first = svc.client.post("/v1/verifications", json=body, headers={"X-Forwarded-For": "1.2.3.4"})
    assert first.status_code == 201
    body2 = {"phone": OTHER, "country": "JP", "account_id": "b"}
    second = svc.client.post(
        "/v1/verifications", json=body2, headers={"X-Forwarded-For": "5.6.7.8"}
    )
    assert_problem(second, "rate_limited")  # both counted by the credential, not the header


def test_body_client_ip_is_the_buyers_address(service):
    """The shop's back end passes its buyer's IP; without one, its credential is the subject."""
    limits = {"limits.per_ip_per_hour": 1}
    body = {"phone": PHONE, "country": "JP", "account_id": "a", "client": {"ip": "203.0.113.1"}}
    body2 = {"phone": OTHER, "country": "JP", "account_id": "b", "client": {"ip": "203.0.113.2"}}
    svc = service(limits)
    assert svc.client.post("/v1/verifications", json=body).status_code == 201
    assert svc.client.post("/v1/verifications", json=body2).status_code == 201
    bare = {"phone": "070-1111-2222", "country": "JP", "account_id": "c"}
    assert svc.client.post("/v1/verifications", json=bare).status_code == 201
    bare2 = {"phone": "070-1111-3333", "country": "JP", "account_id": "d"}
    assert_problem(svc.client.post("/v1/verifications", json=bare2), "rate_limited")
    # Another credential has a budget of its own.
    assert svc.admin.post("/v1/verifications", json=bare2).status_code == 201
    bad = {**body, "client": {"ip": "not-an-ip"}}
    assert_problem(svc.client.post("/v1/verifications", json=bad), "invalid_request")


def test_credentials_and_scopes(service):
    svc = service()
    anonymous = svc.anonymous.post("/v1/verifications", content=b"{not json")
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "unauthenticated"
    assert "Bearer" in anonymous.headers["www-authenticate"]
    wrong = svc.client.get("/v1/verifications/ver_x", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    import base64

    basic = base64.b64encode(b"AC123:" + VERIFY_SECRET.encode()).decode()
    by_basic = svc.anonymous.get(
        "/v1/verifications/ver_x", headers={"Authorization": f"Basic {basic}"}
    )
    assert by_basic.status_code == 404  # authenticated; the verification does not exist
    assert svc.client.get("/sandbox/messages", params={"to": E164}).status_code == 403
    for path in ("/healthz", "/metrics", "/openapi.json"):
        assert svc.anonymous.get(path).status_code == 200
    document = svc.anonymous.get("/openapi.json").json()
    assert set(document["components"]["securitySchemes"]) == {"bearer", "basic"}
    start_op = document["paths"]["/v1/verifications"]["post"]
    assert {"401", "403"} <= set(start_op["responses"])
    assert {"bearer": []} in start_op["security"] and {"basic": []} in start_op["security"]


def test_sandbox_off_is_404(service):
    class Silent:
        def send(self, message, tx):
            pass

    svc = service()
    svc.verifier.sender = Silent()
    from fastapi.testclient import TestClient

    from verifier.http import create_app

    client = TestClient(create_app(svc.verifier, keyring=KEYRING), headers=bearer(ADMIN_KEY))
    answer = client.get("/sandbox/messages", params={"to": E164})
    assert_problem(answer, "not_found", title=UnknownRoute.message)


def test_unknown_routes_and_methods(service):
    svc = service()
    assert_problem(svc.client.get("/v9/nothing"), "not_found", title=UnknownRoute.message)
    answer = svc.client.patch("/v1/verifications/ver_x")
    assert answer.status_code == 405 and answer.json()["code"] == "method_not_allowed"
    assert "allow" in answer.headers


def test_healthz_and_openapi(service):
    svc = service()
    health = svc.client.get("/healthz").json()
    assert health["status"] == "ok" and isinstance(health["pid"], int)
    document = svc.client.get("/openapi.json").json()
    assert "Problem" in document["components"]["schemas"]
    assert "HTTPValidationError" not in document["components"]["schemas"]
    start_op = document["paths"]["/v1/verifications"]["post"]
    assert {"200", "201", "409", "422", "429"} <= set(start_op["responses"])
    problem = start_op["responses"]["429"]["content"]["application/problem+json"]
    assert problem["schema"]["$ref"] == "#/components/schemas/Problem"


def test_metrics_use_route_templates(service):
    svc = service()
    ver = start(svc).json()
    check(svc, ver["id"], wrong(svc.code_for(E164)))
    svc.client.get(f"/v1/phone-numbers/{PHONE}?country=JP")
    text = svc.client.get("/metrics").text
    assert 'route="/v1/verifications/{verification_id}/check"' in text
    assert 'route="/v1/phone-numbers/{phone}"' in text
    assert ver["id"] not in text and "9012345678" not in text
    assert (
        'smsverify_outcomes_total{operation="check_verification",outcome="incorrect_code"}' in text
    )


def test_importing_verifier_loads_no_web_stack():
    code = "import sys, verifier, verifier.outbox; print(sorted({'fastapi', 'uvicorn', "
    code += "'starlette', 'prometheus_client'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_defect_is_a_500_problem_logged_without_its_message(service, caplog):
    """An exception that escapes every handler: 500 internal_error, its type only in logs."""
    from verifier.http.logs import JsonFormatter

    svc = service()

    def broken(verification_id):
        raise RuntimeError(f"store exploded while reading {E164}")

    svc.verifier.get = broken
    with caplog.at_level("INFO", logger="smsverify"):
        answer = svc.client.get("/v1/verifications/ver_x")
    assert answer.status_code == 500
    assert answer.json()["code"] == "internal_error" and E164 not in answer.text
    lines = [JsonFormatter().format(record) for record in caplog.records]
    assert any('"error_type":"RuntimeError"' in line for line in lines), lines
    assert not any(E164 in line or "exploded" in line for line in lines)


def test_a_key_still_running_elsewhere_answers_409_after_the_wait(monkeypatch):
    from verifier import ManualClock, MemoryStore
    from verifier.http import idempotency
    from verifier.http.problems import IdempotencyKeyInUse

    monkeypatch.setattr(idempotency, "WAIT_S", 0.05)
    keys = idempotency.Idempotency(MemoryStore(), ManualClock())
    assert keys.begin("k", "body-1") is None  # reserved; the first request is "running"
    with pytest.raises(IdempotencyKeyInUse) as refused:
        keys.begin("k", "body-1")
    assert refused.value.http_status == 409 and refused.value.retry_after_s == 1.0
    keys.finish("k", "body-1", 201, {"id": "ver_1"})
    assert keys.begin("k", "body-1") == idempotency.Replay(201, {"id": "ver_1"})


def test_the_docs_example_runs():
    """docs/http.md's in-process example is executed as written."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "http.md").read_text()
    snippet = text.split("```python\n", 1)[1].split("```", 1)[0]
    scope: dict = {}
    exec(compile(snippet, "docs/http.md", "exec"), scope)
    assert scope["app"].title == "smsverify"
