"""Voice calls: the code read out digit by digit, their own cooldown and cap, landlines for
calls only, and the velocity limits they share with SMS."""

from __future__ import annotations

import re

import pytest

from verifier.errors import (
    InvalidRequest,
    MaxSendsReached,
    RateLimited,
    ResendTooSoon,
    UnsupportedNumberType,
)

LANDLINE, LANDLINE_E164 = "03-1234-5678", "+81312345678"
QUIET = {"fraud__min_check_delay_s": 0, "limits__per_number_per_15min": 0}


def test_a_call_reads_the_code_digit_by_digit(make):
    h = make(**QUIET)
    ver = h.start(channel="call")
    assert ver.channel == "call" and ver.calls_left == 1
    message = h.sender.messages("+819012345678")[-1]
    assert message.channel == "call"
    spoken = ", ".join(message.code)
    assert message.body.count(spoken) == 2  # said twice
    assert not re.search(r"\d\d", message.body)  # never one run of digits
    assert h.v.check(ver.id, message.code).status == "approved"
    assert [e.reason for e in h.events if e.kind == "sent"] == ["start:call"]


def test_calls_have_their_own_cooldown_and_cap(make):
    h = make(**QUIET, voice__cooldown_s=60, voice__max_calls=2)
    ver = h.start(channel="call")
    with pytest.raises(ResendTooSoon) as err:
        h.v.resend(ver.id, channel="call")
    assert err.value.retry_after_s == 60
    h.clock.advance(60)
    assert h.v.resend(ver.id, channel="call").calls_left == 0
    h.clock.advance(600)
    with pytest.raises(MaxSendsReached):
        h.v.resend(ver.id, channel="call")
    # SMS keep their own budget: the verification can still send one.
    assert h.v.resend(ver.id).channel == "sms"


def test_cancel_and_start_do_not_reset_the_call_budget(make):
    h = make(**QUIET, voice__cooldown_s=0, voice__max_calls=2)
    for _ in range(2):
        ver = h.start(channel="call")
        h.v.cancel(ver.id)
    with pytest.raises(MaxSendsReached):
        h.start(channel="call")
    calls = [m for m in h.sender.messages("+819012345678") if m.channel == "call"]
    assert len(calls) == 2


def test_a_landline_takes_calls_only(make):
    h = make(**QUIET)
    with pytest.raises(UnsupportedNumberType):
        h.start(phone=LANDLINE)
    ver = h.start(phone=LANDLINE, channel="call")
    assert ver.status == "pending" and h.sent(LANDLINE_E164) == 1
    h.clock.advance(600)
    with pytest.raises(UnsupportedNumberType):
        h.v.resend(ver.id)  # an SMS to a landline


def test_landlines_refused_for_calls_too_unless_the_policy_lists_them(make):
    h = make(**QUIET, voice__extra_types=[])
    with pytest.raises(UnsupportedNumberType):
        h.start(phone=LANDLINE, channel="call")


def test_calls_off_refuse_the_channel(make):
    h = make(**QUIET, voice__enabled=False)
    with pytest.raises(InvalidRequest, match=r"voice\.enabled"):
        h.start(channel="call")
    ver = h.start()
    with pytest.raises(InvalidRequest, match=r"voice\.enabled"):
        h.v.resend(ver.id, channel="call")


def test_calls_count_in_the_velocity_limits(make):
    h = make(fraud__min_check_delay_s=0, limits__per_number_per_15min=1)
    ver = h.start()
    h.clock.advance(120)
    with pytest.raises(RateLimited):
        h.v.resend(ver.id, channel="call")


def test_an_unknown_channel_is_refused_by_name(make):
    h = make(**QUIET)
    with pytest.raises(InvalidRequest, match="channel"):
        h.start(channel="fax")
    assert h.sent() == 0


def test_each_send_keeps_its_channel_in_order(make):
    from verifier.verification import sent_channels

    h = make(**QUIET, voice__cooldown_s=0, send__resend_cooldown_s=[0])
    ver = h.start()
    h.clock.advance(1)
    h.v.resend(ver.id, channel="call")
    h.clock.advance(1)
    ver = h.v.resend(ver.id)
    assert ver.sent_by == ("sms", "call", "sms") and len(ver.sent_at) == 3
    assert ver.channel == "sms"
    # A record from before calls existed has no sent_by: all its sends were SMS.
    assert sent_channels({"sent_at": [1.0, 2.0]}) == ["sms", "sms"]
    assert sent_channels({"sent_at": [1.0], "sent_by": ["call"]}, 1) == ["call"]
