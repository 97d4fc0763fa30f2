"""Our refusals as Twilio's error bodies: ``{"code", "message", "more_info", "status"}``.

Every contract code of ``verifier.errors.ERRORS`` and of the HTTP layer has one row in
:data:`TWILIO`: the Twilio error number and the HTTP status ``/v2`` answers with. Twilio's
own number is used where one means the same refusal (60200 invalid parameter, 60202 max
check attempts, 60203 max send attempts, 20404 not found, 60205 SMS to a landline, 60410
fraud); where none does, the nearest general one. ``incorrect_code`` has a row for
completeness but never becomes an error: a wrong code answers 200 ``valid: false``.

The body has no ``type`` or ``title`` on purpose: the ``twilio`` SDK reads a body with
both as RFC 9457 and raises ``TwilioServiceException`` instead of ``TwilioRestException``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from starlette.responses import Response

from ...errors import InvalidRequest, VerificationError

MORE_INFO = "https://www.twilio.com/docs/errors/{code}"
REALM = 'Basic realm="Twilio API"'


@dataclass(frozen=True, slots=True)
class Mapping:
    """One of our codes as Twilio answers it."""

    code: int
    status: int
    message: str


TWILIO: dict[str, Mapping] = {
    "invalid_phone_number": Mapping(60200, 400, "Invalid parameter `To`"),
    "unsupported_number_type": Mapping(60205, 400, "SMS is not supported by landline phone number"),
    "country_not_allowed": Mapping(60605, 403, "Verification delivery attempt blocked"),
    "phone_number_already_registered": Mapping(
        60200, 409, "Invalid parameter `To`: the number is registered to another account"
    ),
    "resend_too_soon": Mapping(20429, 429, "Too many requests"),
    "max_sends_reached": Mapping(60203, 429, "Max send attempts reached"),
    "rate_limited": Mapping(20429, 429, "Too many requests"),
    "incorrect_code": Mapping(60200, 400, "Invalid parameter `Code`"),
    "code_expired": Mapping(20404, 404, "The requested resource was not found"),
    "locked_out": Mapping(60202, 429, "Max check attempts reached"),
    "verification_not_pending": Mapping(20404, 404, "The requested resource was not found"),
    "abnormal_operation": Mapping(60410, 403, "Verification blocked as suspected fraud"),
    "stepup_refused": Mapping(60410, 403, "Verification blocked as suspected fraud"),
    "reference_mismatch": Mapping(20404, 404, "The requested resource was not found"),
    "approval_expired": Mapping(20404, 404, "The requested resource was not found"),
    "already_consumed": Mapping(20404, 404, "The requested resource was not found"),
    "not_found": Mapping(20404, 404, "The requested resource was not found"),
    "invalid_request": Mapping(60200, 400, "Invalid parameter"),
    # Codes only the HTTP layer produces.
    "unauthenticated": Mapping(20003, 401, "Authenticate"),
    "forbidden": Mapping(20003, 403, "Authenticate"),
    "idempotency_key_in_use": Mapping(20429, 429, "Too many requests"),
    "method_not_allowed": Mapping(20004, 405, "Method not allowed"),
    "internal_error": Mapping(20500, 500, "Internal server error"),
}
"""Every code of ours and the Twilio error it becomes (the table in ``docs/twilio.md``)."""


class InvalidParameter(InvalidRequest):
    """A /v2 parameter that is missing or has a value we refuse; names the parameter."""

    def __init__(self, parameter: str, why: str) -> None:
        super().__init__(f"Invalid parameter `{parameter}`: {why}")
        self.parameter = parameter


def body(err: VerificationError) -> dict:
    """Twilio's error body for ``err``: its mapped number, our detail as the message."""
    mapped = TWILIO.get(err.code, TWILIO["internal_error"])
    message = mapped.message
    if isinstance(err, InvalidParameter) or (err.detail and err.code == "invalid_request"):
        message = err.detail or message
    return {
        "code": mapped.code,
        "message": message,
        "more_info": MORE_INFO.format(code=mapped.code),
        "status": mapped.status,
    }


def response(err: VerificationError, headers: dict[str, str] | None = None) -> Response:
    """The JSON error response for ``err`` (``Retry-After`` when it has a wait)."""
    headers = dict(headers or {})
    payload = body(err)
    if payload["status"] == 401:
        headers["WWW-Authenticate"] = REALM
        payload["detail"] = "Your AccountSid or AuthToken was incorrect."
    if err.retry_after_s is not None:
        headers["Retry-After"] = str(max(0, math.ceil(err.retry_after_s)))
    content = json.dumps(payload, separators=(",", ":")).encode()
    return Response(
        content, status_code=payload["status"], headers=headers, media_type="application/json"
    )
