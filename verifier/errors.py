"""Typed refusals of the verification engine, each carrying its stable contract code.

Every refusal is a :class:`VerificationError`; the HTTP layer maps them all with one
handler because the class carries ``code``, ``http_status`` and the user-facing
``message``::

    VerificationError
    ├── InvalidPhoneNumber            invalid_phone_number            422
    ├── UnsupportedNumberType         unsupported_number_type         422
    ├── CountryNotAllowed             country_not_allowed             422
    ├── PhoneNumberAlreadyRegistered  phone_number_already_registered 409
    ├── ResendTooSoon                 resend_too_soon                 429
    ├── MaxSendsReached               max_sends_reached               429
    ├── RateLimited                   rate_limited                    429
    ├── IncorrectCode                 incorrect_code                  422
    ├── CodeExpired                   code_expired                    410
    ├── LockedOut                     locked_out                      423
    ├── VerificationNotPending        verification_not_pending        409
    ├── AbnormalOperation             abnormal_operation              403
    ├── StepupRefused                 stepup_refused                  403
    ├── ReferenceMismatch             reference_mismatch              409
    ├── ApprovalExpired               approval_expired                409
    ├── AlreadyConsumed               already_consumed                409
    ├── NotFound                      not_found                       404
    └── InvalidRequest                invalid_request                 422

Configuration problems (policy or scenario files) are :class:`ConfigError`, a
``ValueError`` that names the offending key.
"""

from __future__ import annotations


class VerificationError(Exception):
    """A refusal with a stable ``code``, an HTTP status and the user-facing message."""

    code: str = "verification_error"
    http_status: int = 400
    message: str = "The verification could not be completed."

    def __init__(
        self,
        detail: str | None = None,
        *,
        attempts_left: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(detail or self.message)
        self.detail = detail
        self.attempts_left = attempts_left
        self.retry_after_s = retry_after_s

    def to_problem(self) -> dict:
        """The RFC 9457 problem body the HTTP API answers with."""
        body: dict = {
            "type": "about:blank",
            "code": self.code,
            "title": self.message,
            "status": self.http_status,
            "detail": self.detail,
        }
        if self.attempts_left is not None:
            body["attempts_left"] = self.attempts_left
        if self.retry_after_s is not None:
            body["retry_after_s"] = self.retry_after_s
        return body

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, detail={self.detail!r})"


class InvalidPhoneNumber(VerificationError):
    code = "invalid_phone_number"
    http_status = 422
    message = "The phone number is not valid."


class UnsupportedNumberType(VerificationError):
    code = "unsupported_number_type"
    http_status = 422
    message = "This phone number cannot receive SMS. Please enter a mobile number."


class CountryNotAllowed(VerificationError):
    code = "country_not_allowed"
    http_status = 422
    message = "Phone numbers from this country cannot be used."


class PhoneNumberAlreadyRegistered(VerificationError):
    code = "phone_number_already_registered"
    http_status = 409
    message = "This number is already registered."


class ResendTooSoon(VerificationError):
    code = "resend_too_soon"
    http_status = 429
    message = "Please wait a little before requesting another code."


class MaxSendsReached(VerificationError):
    code = "max_sends_reached"
    http_status = 429
    message = "No more codes can be sent for this verification. Please start again later."


class RateLimited(VerificationError):
    code = "rate_limited"
    http_status = 429
    message = "Too many requests. Please try again later."


class IncorrectCode(VerificationError):
    code = "incorrect_code"
    http_status = 422
    message = "The verification code is incorrect."


class CodeExpired(VerificationError):
    code = "code_expired"
    http_status = 410
    message = "The verification code has expired. Please request a new code."


class LockedOut(VerificationError):
    code = "locked_out"
    http_status = 423
    message = "The verification code cannot be entered now. Please try again in a little while."


class VerificationNotPending(VerificationError):
    code = "verification_not_pending"
    http_status = 409
    message = "This verification is no longer pending."


class AbnormalOperation(VerificationError):
    code = "abnormal_operation"
    http_status = 403
    message = "Since an abnormal operation was detected, the process has been cancelled."


class StepupRefused(VerificationError):
    code = "stepup_refused"
    http_status = 403
    message = "This payment cannot be accepted. Please use another payment method."


class ReferenceMismatch(VerificationError):
    code = "reference_mismatch"
    http_status = 409
    message = "This approval belongs to another order."


class ApprovalExpired(VerificationError):
    code = "approval_expired"
    http_status = 409
    message = "The approval has expired; please verify your phone number again."


class AlreadyConsumed(VerificationError):
    code = "already_consumed"
    http_status = 409
    message = "This approval has already been used."


class NotFound(VerificationError):
    code = "not_found"
    http_status = 404
    message = "No such verification."


class InvalidRequest(VerificationError):
    """A request of the wrong shape: a missing field, a wrong type, an oversize value."""

    code = "invalid_request"
    http_status = 422
    message = "The request is not valid."


ERRORS: dict[str, type[VerificationError]] = {
    cls.code: cls
    for cls in (
        InvalidPhoneNumber,
        UnsupportedNumberType,
        CountryNotAllowed,
        PhoneNumberAlreadyRegistered,
        ResendTooSoon,
        MaxSendsReached,
        RateLimited,
        IncorrectCode,
        CodeExpired,
        LockedOut,
        VerificationNotPending,
        AbnormalOperation,
        StepupRefused,
        ReferenceMismatch,
        ApprovalExpired,
        AlreadyConsumed,
        NotFound,
        InvalidRequest,
    )
}
"""Every contract code and its class, in the order of the design's table."""


class ConfigError(ValueError):
    """A policy or scenario file that cannot be used; ``key`` names what is wrong."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem
