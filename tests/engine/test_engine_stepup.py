"""Step-up by payment risk: each point, each decision, its event, and what "none" may do."""

from __future__ import annotations

import pytest

from verifier import Policy
from verifier.errors import InvalidRequest, StepupRefused, VerificationNotPending
from verifier.stepup import decide

SAFE = {
    "amount": 4800,
    "currency": "JPY",
    "new_device": False,
    "new_address": False,
    "new_payment_method": False,
    "account_age_days": 400,
}


def stepup_events(h):
    return [e for e in h.events if e.kind == "stepup"]


def test_a_safe_payment_is_approved_without_a_code(make):
    h = make()
    ver = h.start(reference="order-1", payment=SAFE)
    assert ver.status == "approved" and ver.stepup == "none" and ver.created
    assert h.sent() == 0
    assert [e.reason for e in stepup_events(h)] == ["none:no_risk"]


def test_a_start_without_a_payment_always_gets_a_code(make):
    h = make()
    ver = h.start(reference="order-1")
    assert ver.status == "pending" and ver.stepup == "code" and h.sent() == 1
    assert stepup_events(h) == []  # nothing was decided: there was no payment


@pytest.mark.parametrize(
    ("change", "point"),
    [
        ({"new_device": True}, "new_device"),
        ({"new_address": True}, "new_address"),
        ({"new_payment_method": True}, "new_payment_method"),
        ({"new_device": None}, "new_device"),  # unknown counts as new
        ({"account_age_days": 364}, "young_account"),
        ({"account_age_days": None}, "young_account"),
        ({"amount": 10000}, "amount"),
        ({"amount": None}, "amount"),
        ({"currency": "XXX"}, "amount"),  # no rate: the amount cannot be judged small
    ],
)
def test_each_risk_point_asks_for_a_code_and_names_itself(make, change, point):
    h = make()
    payment = {k: v for k, v in {**SAFE, **change}.items() if v is not None}
    ver = h.start(reference="order-1", payment=payment)
    assert ver.status == "pending" and ver.stepup == "code" and h.sent() == 1
    assert [e.reason for e in stepup_events(h)] == [f"code:{point}"]


def test_amounts_convert_through_the_policy_rates(make):
    h = make(stepup__jpy_per_unit={"JPY": 1.0, "USD": 150.0})
    assert h.start(account="a", payment={**SAFE, "amount": 66, "currency": "usd"}).stepup == "none"
    assert h.start(account="b", payment={**SAFE, "amount": 67, "currency": "USD"}).stepup == "code"


def test_refuse_at_points_refuses_with_its_event(make):
    h = make(stepup__refuse_at_points=3)
    risky = {"amount": 90000, "currency": "JPY", "new_device": True, "new_address": True}
    with pytest.raises(StepupRefused):
        h.start(reference="order-1", payment=risky)
    assert h.sent() == 0
    assert [e.reason for e in stepup_events(h)] == [
        "refuse:new_device,new_address,new_payment_method,young_account,amount"
    ]
    assert [e.reason for e in h.events if e.kind == "refused"] == ["stepup_refused"]


def test_step_up_off_sends_a_code_to_every_payment(make):
    h = make(stepup__enabled=False)
    assert h.start(payment=SAFE).stepup == "code"
    assert [e.reason for e in stepup_events(h)] == ["code:stepup_off"]


def test_an_approval_without_a_code_is_consumed_like_any_other(make):
    h = make()
    ver = h.start(reference="order-1", payment=SAFE)
    done = h.v.consume(ver.id, "order-1")
    assert done.status == "consumed" and done.stepup == "none"


def test_an_approval_without_a_code_never_binds_a_number(make):
    h = make()
    ver = h.start(reference="order-1", payment=SAFE)
    with pytest.raises(VerificationNotPending, match="without a code"):
        h.v.registry.bind("acct-1", ver.id)
    h.v.consume(ver.id, "order-1")
    with pytest.raises(VerificationNotPending, match="without a code"):
        h.v.registry.bind("acct-1", ver.id)
    assert h.v.registry.owner("+819012345678") is None


def test_an_approval_without_a_code_takes_no_check(make):
    h = make()
    ver = h.start(payment=SAFE)
    with pytest.raises(VerificationNotPending):
        h.v.check(ver.id, "111111")


@pytest.mark.parametrize(
    ("payment", "field"),
    [
        ("cheap", "payment must be an object"),
        ({"amount": -1}, "payment.amount"),
        ({"amount": float("nan")}, "payment.amount"),
        ({"amount": True}, "payment.amount"),
        ({"currency": "yen!"}, "payment.currency"),
        ({"account_age_days": 1.5}, "payment.account_age_days"),
        ({"new_device": "no"}, "payment.new_device"),
        ({"tip": 1}, "unknown field tip"),
    ],
)
def test_a_malformed_payment_names_the_field(make, payment, field):
    h = make()
    with pytest.raises(InvalidRequest, match=field):
        h.start(payment=payment)
    assert h.sent() == 0


def test_the_default_policy_matches_the_contract():
    policy = Policy.default().stepup
    assert decide(SAFE, policy).stepup == "none"
    assert decide({**SAFE, "amount": 9999.99}, policy).stepup == "none"
    assert decide({**SAFE, "amount": 10000}, policy).stepup == "code"
    assert decide({**SAFE, "account_age_days": 365}, policy).stepup == "none"
    assert decide(None, policy).stepup == "code"
    assert policy.refuse_at_points == 0  # refusing is a shop's choice, off by default
