"""A hostile caller against a real server: credentials, the purchase step under races,
limits that cannot be sidestepped, what is kept and for how long, slow connections.

Each test starts ``smsverify serve`` as its own process (SQLite, and Redis where state
races), and measures through HTTP only.
"""

from __future__ import annotations

import base64
import socket
import sqlite3
import stat
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from servekit import ADMIN_KEY, VERIFY_KEY, Api, Server, call, policy_toml, wait_for, wrong_code
from servekit import jp_mobile as _jp

STORES = ["sqlite", "redis"]
OPEN = {"fraud": {"min_check_delay_s": 0}, "limits": {"per_ip_per_hour": 0}}


def jp_mobile(n: int) -> tuple[str, str]:
    return _jp(20_000_000 + n)  # 090-2000-…: numbers Japan has allocated


def _store(kind: str, tmp_path: Path, request) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'hard.db'}"
    return request.getfixturevalue("redis_url")


def _approved(api: Api, n: int, account: str, reference: str | None = "order-1") -> dict:
    phone, e164 = jp_mobile(n)
    ver = api.start(phone, account, reference=reference).body
    answer = api.check(ver["id"], api.code_for(e164))
    assert answer.status == 200, answer.body
    return answer.body


# -- credentials -------------------------------------------------------------------------


def test_credentials_through_a_real_server(server, toml, tmp_path):
    srv = server(store=f"sqlite:///{tmp_path / 'keys.db'}", policy=toml(**OPEN))
    anonymous = srv.api.as_(None)
    for method, path in (
        ("POST", "/v1/verifications"),
        ("GET", "/v1/verifications/ver_x"),
        ("GET", "/v1/accounts/a/phone-number"),
        ("GET", "/sandbox/messages?to=%2B819012345678"),
        ("POST", "/v1/disputes"),
    ):
        answer = anonymous(method, path, {} if method == "POST" else None)
        assert answer.status == 401 and answer.code == "unauthenticated", (path, answer.body)
        assert "Basic" in answer.headers["www-authenticate"]
    assert srv.api.as_("not-a-key")("GET", "/v1/verifications/ver_x").status == 401
    basic = base64.b64encode(f"ACanything:{VERIFY_KEY}".encode()).decode()
    by_basic = anonymous(
        "GET", "/v1/verifications/ver_x", headers={"Authorization": f"Basic {basic}"}
    )
    assert by_basic.status == 404
    # verify may not read the sandbox, release, or dispute; admin may
    assert srv.api("GET", "/sandbox/messages?to=%2B819012345678").code == "forbidden"
    assert srv.api("DELETE", "/v1/accounts/a/phone-number").code == "forbidden"
    assert srv.admin("DELETE", "/v1/accounts/a/phone-number").code == "not_found"
    assert anonymous("GET", "/healthz").status == 200
    assert anonymous("GET", "/metrics").status == 200


def test_first_start_without_keys_creates_them_and_keeps_only_digests(tmp_path):
    db = tmp_path / "fresh.db"
    srv = Server(tmp_path, store=f"sqlite:///{db}", env={"SMSVERIFY_API_KEYS": ""}, name="fresh")
    with srv:
        log = srv.log()
        secrets = dict(
            line.strip().split(": ", 1)
            for line in log.splitlines()
            if line.strip().startswith(("verify: ", "admin: "))
        )
        assert set(secrets) == {"verify", "admin"}, log
        assert "SMSVERIFY_API_KEYS=" in log
        assert Api(srv.base, secrets["verify"])("GET", "/v1/verifications/ver_x").status == 404
        assert Api(srv.base, secrets["admin"])("GET", "/v1/disputes/dsp_x").status == 404
        assert Api(srv.base, secrets["verify"])("GET", "/v1/disputes/dsp_x").status == 403
    raw = db.read_bytes() + (
        db.with_name("fresh.db-wal").read_bytes() if db.with_name("fresh.db-wal").exists() else b""
    )
    for secret in secrets.values():
        assert secret.encode() not in raw
    srv.start()  # a restart keeps the same keys and makes no new ones
    try:
        assert "created API keys" not in srv.log().split(log, 1)[-1]
        assert Api(srv.base, secrets["verify"])("GET", "/v1/verifications/ver_x").status == 404
    finally:
        srv.stop()


# -- the purchase step ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", STORES)
def test_fifty_concurrent_consumes_exactly_one_succeeds(kind, server, toml, tmp_path, request):
    srv = server(store=_store(kind, tmp_path, request), policy=toml(**OPEN), workers=2)
    ver = _approved(srv.api, 1, "acct-1")
    gate = threading.Barrier(50)

    def consume(_):
        gate.wait()
        return srv.api("POST", f"/v1/verifications/{ver['id']}/consume", {"reference": "order-1"})

    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(consume, range(50)))
    assert sorted(a.status for a in answers) == [200] + [409] * 49
    assert {a.code for a in answers if a.status == 409} == {"already_consumed"}
    other = _approved(srv.api, 2, "acct-2", reference="order-2")
    wrong = srv.api("POST", f"/v1/verifications/{other['id']}/consume", {"reference": "order-1"})
    assert wrong.code == "reference_mismatch"


@pytest.mark.parametrize("kind", STORES)
def test_two_accounts_racing_for_one_number_get_one_binding(kind, server, toml, tmp_path, request):
    srv = server(store=_store(kind, tmp_path, request), policy=toml(**OPEN), workers=2)
    phone, e164 = jp_mobile(7)
    pending = {}
    for account in ("acct-a", "acct-b"):
        pending[account] = srv.api.start(phone, account, reference=f"order-{account}").body
    approvals = {}
    for account, ver in pending.items():
        code = [m["code"] for m in srv.admin("GET", "/sandbox/messages?to=%2B" + e164[1:]).body
                if m["verification_id"] == ver["id"]][-1]  # fmt: skip
        approvals[account] = srv.api.check(ver["id"], code).body
    gate = threading.Barrier(2)

    def bind(account):
        gate.wait()
        return srv.api(
            "PUT",
            f"/v1/accounts/{account}/phone-number",
            {"verification_id": approvals[account]["id"]},
        )

    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = dict(zip(approvals, pool.map(bind, approvals), strict=True))
    assert sorted(a.status for a in answers.values()) == [200, 409]
    loser = next(acct for acct, a in answers.items() if a.status == 409)
    consumed = srv.api(
        "POST",
        f"/v1/verifications/{approvals[loser]['id']}/consume",
        {"reference": f"order-{loser}"},
    )
    assert consumed.code == "phone_number_already_registered"


# -- limits that cannot be sidestepped ---------------------------------------------------------


def test_cancel_and_start_through_the_server_sends_no_more_than_resends(server, toml, tmp_path):
    """20 "re-enter phone number" cycles as fast as a client can send them."""
    srv = server(store=f"sqlite:///{tmp_path / 'cycles.db'}", policy=toml(**OPEN))
    api = srv.api
    phone, e164 = jp_mobile(11)
    vid = api.start(phone, "cycler").body["id"]
    for _ in range(20):
        api("DELETE", f"/v1/verifications/{vid}")
        answer = api.start(phone, "cycler")
        if answer.status in (200, 201):
            vid = answer.body["id"]
        else:
            assert answer.code == "resend_too_soon", answer.body
    sent = len(srv.admin("GET", "/sandbox/messages?to=%2B" + e164[1:]).body)
    other_phone, other = jp_mobile(12)
    rid = api.start(other_phone, "resender").body["id"]
    for _ in range(20):
        api("POST", f"/v1/verifications/{rid}/resend")
    by_resend = len(srv.admin("GET", "/sandbox/messages?to=%2B" + other[1:]).body)
    print(f"SMS after 20 cancel+start cycles: {sent}; after 20 resends: {by_resend}")
    assert sent <= by_resend == 1


def test_forwarded_addresses_and_ipv6_prefixes_on_a_real_server(server, toml, tmp_path):
    policy = toml(fraud={"min_check_delay_s": 0}, limits={"per_ip_per_hour": 1})
    srv = server(
        store=f"sqlite:///{tmp_path / 'ip.db'}",
        policy=policy,
        extra_args=("--trusted-proxy-header", "Forwarded"),
    )
    api = srv.api
    fwd = {"Forwarded": 'for=198.51.100.7, for="[2001:db8::1]:443";proto=https'}
    assert api.start(jp_mobile(21)[0], "a", headers=fwd).status == 201
    same64 = {"Forwarded": 'for="[2001:db8::ffff]"'}
    assert api.start(jp_mobile(22)[0], "b", headers=same64).code == "rate_limited"
    other = {"Forwarded": "for=198.51.100.7"}  # right-most is now this address
    assert api.start(jp_mobile(23)[0], "c", headers=other).status == 201
    body_ip = {"client": {"ip": "2001:db8:0:1::1"}}  # the body wins over the header
    assert api.start(jp_mobile(24)[0], "d", headers=fwd, **body_ip).status == 201


# -- what is kept ------------------------------------------------------------------------------


def _rows(kind: str, url: str) -> int:
    if kind == "sqlite":
        path = url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as conn:
            kv = conn.execute("SELECT count(*) FROM kv").fetchone()[0]
            events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        return kv + events
    import redis

    client = redis.Redis.from_url(url)
    try:
        events = client.llen("smsverify:events")
        return client.dbsize() - (1 if events else 0) + events  # the list is one key
    finally:
        client.close()


@pytest.mark.parametrize("kind", STORES)
def test_a_flood_of_refusals_leaves_nothing_after_retention(kind, server, toml, tmp_path, request):
    url = _store(kind, tmp_path, request)
    policy = toml(
        fraud={"min_check_delay_s": 0}, limits={"per_ip_per_hour": 0}, privacy={"retention_s": 2}
    )
    srv = server(store=url, policy=policy, env={"SMSVERIFY_JANITOR_S": "0.5"})
    baseline = _rows(kind, url)
    for i in range(300):  # refused: VoIP numbers, unknown ids, disputes of free numbers
        srv.api.start(f"050-1234-{i:04d}", f"flood-{i}")
        srv.api.check(f"ver_{i:024x}", "123456")
    flooded = _rows(kind, url)
    assert flooded > baseline  # the janitor may already have purged the oldest
    wait_for(lambda: _rows(kind, url) <= baseline, 30, "the janitor's purge")
    print(f"{kind}: rows {baseline} before, {flooded} after the flood, {_rows(kind, url)} after")


def test_the_hmac_key_lives_in_its_own_file_never_in_the_database(tmp_path):
    db = tmp_path / "data" / "store.db"
    db.parent.mkdir()
    keyfile = tmp_path / "secrets" / "hmac.key"
    srv = Server(
        tmp_path,
        store=f"sqlite:///{db}",
        policy=policy_toml(**OPEN),
        extra_args=("--hmac-key-file", str(keyfile)),
    )
    with srv:
        phone, e164 = jp_mobile(31)
        ver = srv.api.start(phone, "acct").body
        code = srv.api.code_for(e164)
    assert stat.S_IMODE(keyfile.stat().st_mode) == 0o600
    key = bytes.fromhex(keyfile.read_text().strip())
    raw = b"".join(p.read_bytes() for p in db.parent.iterdir())
    assert key not in raw and key.hex().encode() not in raw
    assert not list(db.parent.glob("*.key"))
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM secrets").fetchone()[0] == 0
    srv.start()  # the same file: the code sent before the restart still works
    try:
        assert srv.api.check(ver["id"], code).status == 200
    finally:
        srv.stop()


# -- slow and silent connections ----------------------------------------------------------------


def test_slow_connections_are_closed_and_healthz_still_answers(server, toml, tmp_path):
    srv = server(store=f"sqlite:///{tmp_path / 'slow.db'}", policy=toml(**OPEN))
    held = []
    try:
        for i in range(500):
            sock = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
            if i % 2:  # half say nothing, half send a request line and never finish it
                sock.sendall(b"POST /v1/verifications HTTP/1.1\r\nHost: x\r\nContent-Le")
            held.append(sock)
        opened = time.monotonic()
        assert call(srv.base, "GET", "/healthz", timeout=5).status == 200
        for sock in held:
            sock.settimeout(max(0.1, opened + 15 - time.monotonic()))
            try:
                data = sock.recv(1024)
            except TimeoutError:
                pytest.fail("a slow connection was still open after 15 s")
            assert b"201" not in data and b"200 OK" not in data
        closed_after = time.monotonic() - opened
        print(f"500 slow connections all closed {closed_after:.1f} s after they were opened")
        assert call(srv.base, "GET", "/healthz", timeout=5).status == 200
    finally:
        for sock in held:
            sock.close()


def test_a_slow_but_complete_request_is_still_served(server, toml, tmp_path):
    srv = server(store=f"sqlite:///{tmp_path / 'slow2.db'}", policy=toml(**OPEN))
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    try:
        for part in (b"GET /healthz HTTP/1.1\r\n", b"Host: x\r\n", b"\r\n"):
            sock.sendall(part)
        data = sock.recv(4096)
        assert data.startswith(b"HTTP/1.1 200")
    finally:
        sock.close()


def test_wrong_codes_are_counted_per_account_through_the_server(server, toml, tmp_path):
    policy = toml(
        fraud={"min_check_delay_s": 0},
        limits={"per_ip_per_hour": 0, "failures_per_account_per_hour": 6},
    )
    srv = server(store=f"sqlite:///{tmp_path / 'fail.db'}", policy=policy)
    api = srv.api
    for n in range(2):
        phone, e164 = jp_mobile(40 + n)
        ver = api.start(phone, "guesser").body
        code = api.code_for(e164)
        for _ in range(3):
            assert api.check(ver["id"], wrong_code(code)).code == "incorrect_code"
    phone, e164 = jp_mobile(50)
    ver = api.start(phone, "guesser").body
    assert api.check(ver["id"], api.code_for(e164)).code == "rate_limited"
    assert ADMIN_KEY != VERIFY_KEY
