"""Step-up by payment risk through a real server: the payment summary, the `stepup` field,
an approval without a code consumed for its order but never bound, and the refusal."""

from __future__ import annotations

from servekit import jp_mobile

SAFE = {
    "amount": 4800,
    "currency": "JPY",
    "new_device": False,
    "new_address": False,
    "new_payment_method": False,
    "account_age_days": 400,
}


def test_step_up_through_a_real_server(server, toml, tmp_path):
    srv = server(
        store=f"sqlite:///{tmp_path / 'stepup.db'}",
        policy=toml(stepup={"refuse_at_points": 4}, limits={"per_ip_per_hour": 0}),
    )
    api = srv.api
    phone, e164 = jp_mobile(31_000_001)

    safe = api.start(phone, "acct-1", reference="order-1", payment=SAFE)
    assert safe.status == 201, safe.body
    assert safe.body["status"] == "approved" and safe.body["stepup"] == "none"
    assert srv.admin("GET", "/sandbox/messages?to=%2B" + e164[1:]).body == []

    bind = api("PUT", "/v1/accounts/acct-1/phone-number", {"verification_id": safe.body["id"]})
    assert bind.status == 409 and "without a code" in bind.body["detail"], bind.body
    done = api("POST", f"/v1/verifications/{safe.body['id']}/consume", {"reference": "order-1"})
    assert done.status == 200 and done.body["status"] == "consumed", done.body

    risky = api.start(phone, "acct-2", reference="order-2", payment={**SAFE, "new_device": True})
    assert risky.status == 201 and risky.body["stepup"] == "code", risky.body
    assert risky.body["status"] == "pending"

    plain = api.start(*jp_mobile(31_000_002)[:1], "acct-3")
    assert plain.status == 201 and plain.body["stepup"] == "code"

    refused = api.start(
        phone, "acct-4", payment={"amount": 90000, "currency": "JPY", "new_device": True}
    )
    assert refused.status == 403 and refused.code == "stepup_refused", refused.body


def test_a_malformed_payment_is_refused_by_name(server, toml, tmp_path):
    srv = server(store=f"sqlite:///{tmp_path / 'stepup.db'}", policy=toml())
    phone, _ = jp_mobile(31_000_003)
    for payment, field in (
        ({"amount": -5}, "amount"),
        ({"amount": "100"}, "amount"),
        ({"currency": "yen"}, None),  # three letters: shape fine, but no rate → a code
        ({"currency": "Y3N"}, "currency"),
        ({"new_device": "yes"}, "new_device"),
        ({"tip": 1}, "tip"),
    ):
        answer = srv.api.start(phone, "acct-5", payment=payment)
        if field is None:
            assert answer.status in (200, 201) and answer.body["stepup"] == "code", answer.body
            continue
        assert answer.status == 422 and answer.code == "invalid_request", answer.body
        assert field in answer.body["detail"], (payment, answer.body)
