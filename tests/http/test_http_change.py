"""Change of number through a real server: the old number stays bound until the new one is
approved, then the binding moves and the old number gets a notice; the refusals."""

from __future__ import annotations

from urllib.parse import quote

from servekit import jp_mobile


def _bind(api, account: str, n: int) -> str:
    phone, e164 = jp_mobile(n)
    ver = api.start(phone, account).body
    assert api.check(ver["id"], api.code_for(e164)).status == 200
    answer = api("PUT", f"/v1/accounts/{account}/phone-number", {"verification_id": ver["id"]})
    assert answer.status == 200, answer.body
    return e164


def test_change_of_number_through_a_real_server(server, toml, tmp_path):
    srv = server(
        store=f"sqlite:///{tmp_path / 'change.db'}",
        policy=toml(fraud={"min_check_delay_s": 0}, limits={"per_ip_per_hour": 0}),
    )
    api, admin = srv.api, srv.admin
    old = _bind(api, "acct-1", 32_000_001)
    new_phone, new = jp_mobile(32_000_002)
    path = "/v1/accounts/acct-1/phone-number"

    change = api("POST", f"{path}/change", {"phone": new_phone, "country": "JP"})
    assert change.status == 201 and change.body["status"] == "pending", change.body
    assert change.body["reference"] == "number-change"
    assert admin("GET", path).body["phone"] == old  # still the old one
    again = api("POST", f"{path}/change", {"phone": new_phone, "country": "JP"})
    assert again.status == 200 and again.body["id"] == change.body["id"]

    assert api.check(change.body["id"], api.code_for(new)).status == 200
    assert admin("GET", path).body["phone"] == new
    messages = admin("GET", "/sandbox/messages?to=" + quote(old)).body
    assert [m["kind"] for m in messages] == ["code", "notice"]
    assert messages[-1]["code"] == "" and "changed" in messages[-1]["body"]


def test_change_of_number_refusals(server, toml, tmp_path):
    srv = server(
        store=f"sqlite:///{tmp_path / 'change.db'}",
        policy=toml(fraud={"min_check_delay_s": 0}, limits={"per_ip_per_hour": 0}),
    )
    api = srv.api
    old = _bind(api, "acct-1", 32_000_011)
    taken = _bind(api, "acct-2", 32_000_012)

    none = api("POST", "/v1/accounts/acct-9/phone-number/change", {"phone": "+819032000013"})
    assert none.status == 404 and none.code == "not_found", none.body
    same = api("POST", "/v1/accounts/acct-1/phone-number/change", {"phone": old})
    assert same.status == 422 and "already" in same.body["detail"], same.body
    steal = api("POST", "/v1/accounts/acct-1/phone-number/change", {"phone": taken})
    assert steal.status == 409 and steal.code == "phone_number_already_registered"
    bad = api("POST", "/v1/accounts/acct-1/phone-number/change", {"phone": 9032000014})
    assert bad.status == 422 and bad.code == "invalid_request"
    anonymous = api.as_(None)("POST", "/v1/accounts/acct-1/phone-number/change", {"phone": old})
    assert anonymous.status == 401
