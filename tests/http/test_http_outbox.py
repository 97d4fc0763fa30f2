"""The gateway sender's durable outbox: staged with the send, delivered through outages.

"A gateway outage loses no send that is still useful": an SMS is retried (backoff, at
least Retry-After) until its code expires, survives a kill -9 of the server, and is
delivered once per claim, whichever worker claims it.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from servekit import jp_mobile, wait_for

from verifier import ManualClock, MemoryStore, Policy, SystemClock, VerificationError, Verifier
from verifier.outbox import PREFIX, GatewaySender, OutboxDelivery, retry_after_s
from verifier.stores import open_store

QUIET = {"fraud.min_check_delay_s": 0.0, "limits.per_ip_per_hour": 0}


class Gateway:
    """A tiny SMS gateway on 127.0.0.1 that fails the first ``failures`` requests."""

    def __init__(self, failures: int = 0, status: int = 503, retry_after: str | None = "0"):
        self.failures = failures
        self.status = status
        self.retry_after = retry_after
        self.attempts = 0
        self.delivered: list[dict] = []
        self.lock = threading.Lock()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                payload = json.loads(self.rfile.read(length))
                with gateway.lock:
                    gateway.attempts += 1
                    failing = gateway.failures > 0
                    if failing:
                        gateway.failures -= 1
                    elif self.path == "/messages":
                        gateway.delivered.append(payload)
                if failing:
                    self.send_response(gateway.status)
                    if gateway.retry_after is not None:
                        self.send_header("Retry-After", gateway.retry_after)
                else:
                    self.send_response(202 if self.path == "/messages" else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def heal(self) -> None:
        with self.lock:
            self.failures = 0

    def __enter__(self) -> Gateway:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def engine(store, clock, delivery_kw=None, gateway_url="http://127.0.0.1:9", **policy):
    results: list[str] = []
    delivery = OutboxDelivery(
        store, clock, gateway_url, on_result=results.append, **(delivery_kw or {})
    )
    pol = Policy.default().replace(**{**QUIET, **policy})
    sender = GatewaySender(pol.code.ttl_s, wake=delivery.wake)
    verifier = Verifier(policy=pol, store=store, sender=sender, clock=clock)
    return verifier, delivery, results


def code_in(body: str) -> str:
    return re.search(r"\b(\d{6})\b", body).group(1)


def test_send_stages_in_the_same_transaction():
    """A committed send is an outbox item expiring with its code; a refused start stages nothing."""
    store, clock = MemoryStore(), ManualClock()
    verifier, delivery, _ = engine(store, clock, **{"numbers.denied_countries": ["US"]})
    ver = verifier.start("090-1234-5678", "JP", "acct-1")
    items = store.scan(PREFIX, clock.now())
    assert len(items) == 1
    key, item = items[0]
    assert key == f"outbox:{clock.now():017.6f}:{ver.id}:1"
    assert item["to"] == ver.phone and item["expires_at"] == ver.expires_at
    with pytest.raises(VerificationError):
        verifier.start("+1 650-253-0000", None, "acct-2")
    assert delivery.depth() == 1


def test_retries_with_backoff_then_delivers():
    with Gateway(failures=3) as gw:
        store, clock = MemoryStore(), ManualClock()
        verifier, delivery, results = engine(store, clock, gateway_url=gw.url)
        ver = verifier.start("090-1234-5678", "JP", "acct-1")
        for _ in range(10):
            if delivery.dispatch() == 0:
                clock.advance(1.0)  # backoff 0.5 s, 1 s, 2 s: wait in manual time
            if results and results[-1] == "delivered":
                break
        assert results == ["retried", "retried", "retried", "delivered"]
        assert gw.delivered == [
            {"to": ver.phone, "body": gw.delivered[0]["body"], "channel": "sms"}
        ]
        assert delivery.depth() == 0
        assert verifier.check(ver.id, code_in(gw.delivered[0]["body"])).status == "approved"


def test_retry_after_is_honoured():
    with Gateway(failures=1, status=429, retry_after="30") as gw:
        store, clock = MemoryStore(), ManualClock()
        verifier, delivery, results = engine(store, clock, gateway_url=gw.url)
        verifier.start("090-1234-5678", "JP", "acct-1")
        delivery.dispatch()
        assert results == ["retried"]
        clock.advance(29)
        assert delivery.dispatch() == 0
        clock.advance(1.5)
        delivery.dispatch()
        assert results == ["retried", "delivered"]


def test_gives_up_when_the_code_expires():
    with Gateway(failures=10**6) as gw:
        store, clock = MemoryStore(), ManualClock()
        verifier, delivery, results = engine(store, clock, gateway_url=gw.url, **{"code.ttl_s": 10})
        verifier.start("090-1234-5678", "JP", "acct-1")
        for _ in range(30):
            delivery.dispatch()
            clock.advance(1.0)
        assert "expired" in results and "delivered" not in results
        assert delivery.depth() == 0 and not gw.delivered


def test_two_deliverers_on_one_store_send_each_message_once(shared_store_url):
    """Claims are atomic: two workers (two store connections) never send one item twice."""
    url = shared_store_url
    with Gateway() as gw:
        clock = SystemClock()
        stores = [open_store(url), open_store(url)]
        verifier, first, results = engine(stores[0], clock, gateway_url=gw.url)
        second = OutboxDelivery(stores[1], clock, gw.url, on_result=results.append)
        for n in range(30):
            phone, _ = jp_mobile(30_000_000 + n)
            verifier.start(phone, "JP", f"acct-{n}")
        first.start()
        second.start()
        try:
            wait_for(lambda: len(gw.delivered) >= 30 and first.depth() == 0, 30, "30 deliveries")
        finally:
            first.stop()
            second.stop()
        assert len(gw.delivered) == 30
        assert max(Counter(m["to"] for m in gw.delivered).values()) == 1
        assert Counter(results) == {"delivered": 30}


def test_outage_and_kill_9_lose_no_useful_send(server, toml, tmp_path):
    """Gateway down, server killed mid-outage, restarted, gateway back: the SMS arrives."""
    with Gateway(failures=10**6) as gw:
        srv = server(
            store=f"sqlite:///{tmp_path / 'outage.db'}",
            sender=gw.url,
            policy=toml(fraud={"min_check_delay_s": 0}),
            env={"SMSVERIFY_GATEWAY_TIMEOUT_S": "1"},
        )
        phone, e164 = jp_mobile(40_000_001)
        ver = srv.api.start(phone, "outage-1").body
        wait_for(lambda: gw.attempts >= 2, 20, "two failed delivery attempts")
        assert 'smsverify_sms_sends_total{result="retried"}' in srv.api("GET", "/metrics").body
        srv.kill()
        gw.heal()
        srv.start()
        wait_for(lambda: gw.delivered, 30, "delivery after the restart")
        assert [m["to"] for m in gw.delivered] == [e164]
        answer = srv.api.check(ver["id"], code_in(gw.delivered[0]["body"]))
        assert answer.status == 200 and answer.body["status"] == "approved"
        metrics = srv.api("GET", "/metrics").body
        assert 'smsverify_sms_sends_total{result="delivered"} 1.0' in metrics
        wait_for(
            lambda: "smsverify_outbox_depth 0.0" in srv.api("GET", "/metrics").body,
            10,
            "an empty outbox",
        )
        assert srv.api("GET", "/sandbox/messages?to=%2B81").status == 404


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("120", 120.0), ("Wed, 21 Oct 2015 07:28:00 GMT", 10.0), ("soon", None), (None, None)],
)
def test_retry_after_header(header, seconds):
    """RFC 9110: Retry-After is delay-seconds or an HTTP-date."""
    assert retry_after_s(header, now=1445412470.0) == seconds


@pytest.mark.parametrize(("text", "threads"), [(None, 4), ("", 4), ("1", 1), ("16", 16)])
def test_the_outbox_posting_threads_come_from_the_environment(text, threads):
    from verifier.http.server import outbox_concurrency

    assert outbox_concurrency(text) == threads


@pytest.mark.parametrize("text", ["0", "65", "four", "2.5", "-3"])
def test_a_bad_outbox_concurrency_is_refused_naming_the_variable(text, monkeypatch, capsys):
    from smsverify.cli import main

    monkeypatch.setenv("SMSVERIFY_OUTBOX_CONCURRENCY", text)
    assert main(["serve", "--store", "memory://", "--sender", "http://127.0.0.1:9"]) == 2
    said = capsys.readouterr().err
    assert "SMSVERIFY_OUTBOX_CONCURRENCY: expected a whole number 1..64" in said
    assert repr(text) in said
