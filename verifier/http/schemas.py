"""Request and response bodies of the v1 API, as pydantic models (and so as OpenAPI).

Requests are strict (no type coercion, no unknown fields, no control characters) so that
a request of the wrong shape is refused as ``invalid_request`` before the engine sees it;
what is left (is this a valid number, is this the code) is the engine's to decide.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

# No C0 or C1 control characters (the same pattern is in the OpenAPI document).
NO_CONTROL = r"^[^\x00-\x1f\x7f-\x9f]*$"


def text(max_length: int, min_length: int = 1) -> type[str]:
    """A string of bounded length without control characters."""
    return Annotated[  # type: ignore[return-value]
        str, StringConstraints(min_length=min_length, max_length=max_length, pattern=NO_CONTROL)
    ]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def example(**values) -> ConfigDict:
    """A request model's config with one example (fuzzers start from it)."""
    return ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [values]})


class Client(Request):
    """Who is on the other end: the buyer's IP (see ``docs/http.md``) and device id."""

    ip: text(64) | None = None
    device_id: text(128) | None = None


class Payment(Request):
    """The payment a start is for; every field optional (see ``docs/policy.md``, Step-up)."""

    amount: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = Field(
        default=None, description="in the currency's major unit, e.g. 4800 (JPY) or 12.5 (USD)"
    )
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3}$")] | None = Field(
        default=None, description="ISO 4217, e.g. JPY"
    )
    new_device: bool | None = None
    new_address: bool | None = None
    new_payment_method: bool | None = None
    account_age_days: Annotated[int, Field(ge=0, le=100_000)] | None = None


class StartRequest(Request):
    model_config = example(
        phone="090-1234-5678", country="JP", account_id="acct-1", reference="order-42"
    )

    phone: text(256) = Field(description="National or E.164 form, e.g. 090-1234-5678")
    country: text(8) | None = Field(
        default=None, description="ISO 3166 alpha-2; optional when phone starts with +"
    )
    account_id: text(128)
    reference: text(256) | None = Field(default=None, description="e.g. the order id")
    client: Client | None = None
    payment: Payment | None = Field(
        default=None,
        description="the payment summary: a low-risk payment may need no code (stepup none)",
    )
    channel: Literal["sms", "call"] = Field(
        default="sms", description="call: the code read out by phone, for phones without SMS"
    )


class ResendRequest(Request):
    model_config = example(channel="call")

    channel: Literal["sms", "call"] = Field(default="sms", description="sms or call")


class ChangeRequest(Request):
    model_config = example(phone="080-2345-6789", country="JP")

    phone: text(256) = Field(description="the new number, national or E.164 form")
    country: text(8) | None = Field(
        default=None, description="ISO 3166 alpha-2; optional when phone starts with +"
    )
    client: Client | None = None


class ReceiptRequest(Request):
    model_config = example(state="delivered")

    state: Literal["queued", "sent", "delivered", "failed"]
    expected_wait_s: Annotated[float, Field(ge=0, le=86400, allow_inf_nan=False)] | None = Field(
        default=None, description="with queued: the gateway's expected wait"
    )


class DeliveryOut(BaseModel):
    state: Literal["queued", "sent", "delivered", "failed"]
    queued_at: float
    sent_at: float | None
    delivered_at: float | None
    failed_at: float | None
    expected_wait_s: float | None = Field(description="while queued: the gateway's estimate")


class ReceiptOut(BaseModel):
    state: Literal["queued", "sent", "delivered", "failed"]


class CheckRequest(Request):
    model_config = example(code="123456")

    code: text(64)
    client: Client | None = None


class ConsumeRequest(Request):
    model_config = example(reference="order-42")

    reference: text(256) | None = Field(
        default=None, description="the order this approval must belong to"
    )


class UnlockOut(BaseModel):
    account_id: str
    unlocked: bool = Field(description="false if the account had no run of wrong codes")


class BindRequest(Request):
    verification_id: text(64) = Field(description="an approved verification of this account")


class DisputeRequest(Request):
    model_config = example(phone="090-1234-5678", country="JP", claimant="acct-2")

    phone: text(256)
    country: text(8) | None = None
    claimant: text(128) = Field(description="the account that says the number is now theirs")


class ResolveRequest(Request):
    decision: Literal["release", "reject"]


class VerificationOut(BaseModel):
    """A verification resource; ``created`` is expressed by the status code (201 or 200)."""

    id: str
    status: Literal["pending", "approved", "consumed", "cancelled", "expired", "locked"]
    phone: str = Field(description="E.164 for admin callers, masked (+81 90-****-5678) for others")
    region: str
    account_id: str
    reference: str | None
    created_at: float
    expires_at: float
    resend_available_at: float | None
    sends_left: int
    attempts_left: int
    approved_at: float | None
    consumed_at: float | None
    locked_until: float | None
    stepup: Literal["code", "none"] = Field(
        description="none: approved at once for a low-risk payment, no code sent; "
        "consumable, but it can never bind a number"
    )
    channel: Literal["sms", "call"] = Field(description="how the last code was sent")
    calls_left: int = Field(description="calls this account+number may still get")
    delivery: DeliveryOut | None = Field(
        description="the last message's delivery state (the gateway's receipts)"
    )


class PhoneNumberOut(BaseModel):
    e164: str
    region: str
    type: str = Field(description="phonenumbers type name, e.g. MOBILE or VOIP")
    verifiable: bool
    reason: str | None = Field(description="the refusal code when not verifiable")


class AccountNumberOut(BaseModel):
    account_id: str
    phone: str = Field(description="the number bound (or just released); masked unless admin")
    bound: bool


class DisputeOut(BaseModel):
    id: str
    status: Literal["open", "resolved"]
    phone: str
    claimant: str
    opened_at: float
    resolved_at: float | None
    decision: Literal["release", "reject"] | None


class SandboxMessageOut(BaseModel):
    to: str
    body: str
    code: str = Field(description="the code it carries; empty for a notice")
    sent_at: float
    verification_id: str
    kind: Literal["code", "notice"] = Field(
        description="notice: the message to an old number after a change of number"
    )
    channel: Literal["sms", "call"] = Field(description="call: the body is what the call says")


class HealthOut(BaseModel):
    status: Literal["ok"]
    pid: int


class Problem(BaseModel):
    """An RFC 9457 problem body; ``code`` is the stable contract code."""

    type: str
    code: str
    title: str = Field(description="the user-facing message")
    status: int
    detail: str | None
    attempts_left: int | None = None
    retry_after_s: float | None = None
