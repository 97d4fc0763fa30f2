"""Velocity limits and abnormal-operation detectors, each a policy key."""

from __future__ import annotations

import pytest

from verifier.errors import AbnormalOperation, IncorrectCode, RateLimited


def numbers(n, start=12345000):
    return [f"+8190{start + i * 137}" for i in range(n)]


def test_per_number_per_day_counts_every_sms(make):
    h = make(limits__per_number_per_day=10, limits__per_number_per_15min=0)
    ver = h.start()
    sent = 1
    for _ in range(4):
        h.clock.advance(120)
        h.v.resend(ver.id)
        sent += 1
    h.clock.advance(1)
    h.v.cancel(ver.id)
    for account in range(5):
        h.v.cancel(h.start(account=f"other-{account}").id)
        sent += 1
    assert sent == 10
    with pytest.raises(RateLimited) as err:
        h.start(account="one-more")
    assert 0 < err.value.retry_after_s <= 86400
    h.clock.advance(err.value.retry_after_s)
    assert h.start(account="one-more").created


def test_per_ip_per_hour(make):
    h = make(limits__per_ip_per_hour=3)
    for i, phone in enumerate(numbers(3)):
        h.start(phone=phone, country=None, account=f"a{i}", client_ip="203.0.113.9")
    with pytest.raises(RateLimited) as err:
        h.start(phone=numbers(4)[3], country=None, account="a9", client_ip="203.0.113.9")
    assert err.value.retry_after_s == pytest.approx(3600)
    assert h.start(phone=numbers(4)[3], country=None, account="a9", client_ip="198.51.100.1")


@pytest.mark.parametrize(
    ("key", "kwargs"),
    [
        ("limits__per_account_per_hour", {"account": "same"}),
        ("limits__per_device_per_hour", {"device_id": "dev-1"}),
    ],
)
def test_per_account_and_per_device_per_hour(make, key, kwargs):
    h = make(**{key: 2})
    phones = numbers(3)
    for i in range(2):
        h.start(phone=phones[i], country=None, **{"account": f"a{i}", **kwargs})
    with pytest.raises(RateLimited):
        h.start(phone=phones[2], country=None, **{"account": "a2", **kwargs})
    assert "rate_limited:" in "".join(e.reason or "" for e in h.events)


def test_limit_answers_do_not_say_which_bucket_fired(make):
    """OWASP Bot Management: every bucket yields the same generic 429 body."""
    h = make(limits__per_ip_per_hour=1, limits__per_device_per_hour=1)
    phones = numbers(3)
    h.start(phone=phones[0], country=None, account="a", client_ip="203.0.113.9")
    h.start(phone=phones[1], country=None, account="b", device_id="dev")
    bodies = []
    for kwargs in ({"client_ip": "203.0.113.9"}, {"device_id": "dev"}):
        with pytest.raises(RateLimited) as err:
            h.start(phone=phones[2], country=None, account="c", **kwargs)
        body = err.value.to_problem()
        body.pop("retry_after_s")
        bodies.append(body)
    assert bodies[0] == bodies[1]


def test_failures_per_account_per_hour_stop_evaluation(make):
    """ASVS 2.2.1: no more than 100 failed attempts per hour on one account (here 3)."""
    h = make(limits__failures_per_account_per_hour=3, fraud__min_check_delay_s=0.0)
    phones = numbers(2)
    ver = h.start(phone=phones[0], country=None, account="x")
    for _ in range(3):
        with pytest.raises(IncorrectCode):
            h.v.check(ver.id, "000000")
    other = h.start(phone=phones[1], country=None, account="x")
    with pytest.raises(RateLimited):
        h.v.check(other.id, h.sender.messages(other.phone)[-1].code)
    assert h.v.get(other.id).attempts_left == 5


def test_check_faster_than_a_person_types_is_abnormal(make):
    h = make(fraud__min_check_delay_s=2.0)
    ver = h.start()
    h.clock.advance(1.5)
    with pytest.raises(AbnormalOperation):
        h.v.check(ver.id, h.last_code())
    assert h.v.get(ver.id).status == "cancelled"
    flagged = [e for e in h.events if e.kind == "fraud_flagged"]
    assert flagged[0].reason == "check_too_fast"


def test_check_after_the_delay_is_fine(make):
    h = make(fraud__min_check_delay_s=2.0)
    ver = h.start()
    h.clock.advance(2.0)
    assert h.v.check(ver.id, h.last_code()).status == "approved"


def test_check_from_another_client_is_abnormal(make):
    h = make(fraud__client_mismatch=True, fraud__min_check_delay_s=0.0)
    ver = h.start(client_ip="203.0.113.9", device_id="dev-1")
    with pytest.raises(AbnormalOperation, match="client_mismatch"):
        h.v.check(ver.id, h.last_code(), client_ip="198.51.100.7", device_id="dev-1")
    ver = h.start(account="acct-2", phone="080-1234-5678", device_id="dev-1")
    code = h.sender.messages(ver.phone)[-1].code
    assert h.v.check(ver.id, code, device_id="dev-1").status == "approved"


def test_sequential_numbers_without_completions_are_pumping(make):
    h = make(fraud__sequential_starts=5, fraud__sequential_span=10)
    for i in range(4):
        h.start(phone=f"+81901234{5670 + i}", country=None, account=f"p{i}")
    with pytest.raises(AbnormalOperation, match="sequential_numbers"):
        h.start(phone="+819012345674", country=None, account="p4")
    # a distant number in the same prefix is not part of the run
    assert h.start(phone="+819012349000", country=None, account="p5").created


def test_prefix_volume_counts_only_unverified_starts(make):
    h = make(fraud__prefix_unverified_max=3, fraud__min_check_delay_s=0.0)
    tails = [1000, 3000, 5000, 7000]
    vers = [
        h.start(phone=f"+81901234{t}", country=None, account=f"p{i}")
        for i, t in enumerate(tails[:3])
    ]
    with pytest.raises(AbnormalOperation, match="prefix_volume"):
        h.start(phone=f"+81901234{tails[3]}", country=None, account="p3")
    h.v.check(vers[0].id, h.sender.messages(vers[0].phone)[-1].code)
    assert h.start(phone=f"+81901234{tails[3]}", country=None, account="p3").created
    h.clock.advance(3600)
    assert h.start(phone="+819012349999", country=None, account="p9").created


def test_detectors_are_off_by_default_except_the_check_delay(h, make):
    default = make()
    assert default.v.policy.fraud.min_check_delay_s == 1.0
    for i in range(20):
        h.start(phone=f"+81901234{5600 + i}", country=None, account=f"p{i}")
    assert "fraud_flagged" not in h.kinds()
