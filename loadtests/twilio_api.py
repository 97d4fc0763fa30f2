"""The Twilio-shaped API (``/v2``) as the load generators call it, through Locust.

``smsverify loadtest --api twilio`` plays the same visitors (``loadtests/visitors.py``)
through ``/v2`` instead of ``/v1``: :class:`TwilioApi` has the operations of
:class:`loadtests.api.Api` and answers with the same :class:`~loadtests.api.Answer`, so
a visitor does not know which API it is talking to. It calls ``/v2`` the way an app
using the ``twilio`` SDK does (form-encoded bodies, HTTP Basic with an account SID and
the run's key, a check by ``To``) and reads Twilio's answer back into the visitor's
terms, which is the only thing an app has to go on:

* a wrong code answers 200 ``valid: false``: read as ``incorrect_code``, with
  ``attempts_left`` 0 when the status is ``max_attempts_reached`` and unknown otherwise;
* a 20404 on a check does not say why: the app fetches the verification, as an app
  would, and reads its status (``pending`` or ``expired``: the code expired, so send a
  new one; ``max_attempts_reached``: locked out; anything else: not pending);
* 20429 is ``resend_too_soon`` when creating again for a pending number and
  ``rate_limited`` otherwise, with ``Retry-After`` as the wait; 60202, 60203, 60205,
  60605 and 60410 are their codes of ours (``docs/twilio.md``, Error mapping);
* a resend is a create again for the same ``To`` (the same SID while it is pending; a
  new verification once it is not, as the hosted service does);
* binding a number to an account has no ``/v2`` equivalent: :meth:`TwilioApi.bind`
  sends nothing and answers ``not_available``, so buyers register nothing and the
  enumerator only ever probes fresh numbers.

Each Locust statistics row is named after the ``/v2`` route template. Refusals are
reported as failures named by the code of ours they were read as, as on ``/v1``, so
the load report's tables read the same whichever API was driven.
"""

from __future__ import annotations

import contextlib
from urllib.parse import quote

from .api import BUSINESS_CODES, Answer, Broken, Refused
from .config import basic

NOT_AVAILABLE = "not_available"  # an operation /v2 does not have (binding a number)

# Twilio's numbers read back as our codes; 60200, 20404 and 20429 depend on the call.
READ_BACK = {
    60202: "locked_out",
    60203: "max_sends_reached",
    60205: "unsupported_number_type",
    60410: "abnormal_operation",
    60605: "country_not_allowed",
}
PENDING_AGAIN = ("pending", "expired")  # a 20404 check on these: the code expired


class TwilioApi:
    """The operations a visitor uses, through ``/v2`` of one or more services.

    ``services`` maps the first letter of a visitor's account name to the service its
    verifications go to (``""``: every other visitor): the brute-forcer gets a service
    of its own so that the invariants can tell its verifications apart by their
    account id, which on ``/v2`` is the service SID and a pseudonym of the number.
    """

    def __init__(self, client, services: dict[str, str], account_sid: str, key: str) -> None:
        if "" not in services:
            raise ValueError("services needs a default entry under the key ''")
        self.client = client
        self.services = dict(services)
        self.auth = basic(account_sid, key)
        self.to: dict[str, str] = {}  # verification SID -> its number, for checks by To
        self.service_of: dict[str, str] = {}  # verification SID -> its service SID

    # -- one request -----------------------------------------------------------

    def _request(self, method: str, path: str, name: str, form: dict | None, read) -> Answer:
        """One request; ``read(status, body, headers)`` turns its answer into an Answer."""
        headers = {"Authorization": self.auth}
        if form is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        data = (
            None
            if form is None
            else "&".join(f"{quote(k, safe='')}={quote(str(v), safe='')}" for k, v in form.items())
        )
        with self.client.request(
            method, path, name=name, data=data, headers=headers, catch_response=True
        ) as r:
            if not r.status_code:
                r.failure(Broken(f"transport {type(getattr(r, 'error', None)).__name__}"))
                return Answer(0, {}, "error")
            try:
                body = r.json()
            except ValueError:
                body = None
            if not isinstance(body, dict):
                r.failure(Broken(f"HTTP {r.status_code} without a JSON object"))
                return Answer(r.status_code, {}, "error")
            answer = read(r.status_code, body, r.headers)
            if answer.code is None:
                r.success()
            elif answer.code in BUSINESS_CODES:
                r.failure(Refused(answer.code))
            else:
                r.failure(Broken(f"HTTP {r.status_code} Twilio {body.get('code', 'no code')}"))
        return answer

    @staticmethod
    def _refusal(status: int, body: dict, headers, twilio_429: str) -> Answer:
        """A Twilio error body read back as our code (``error`` if it is none of ours)."""
        number = body.get("code")
        code = READ_BACK.get(number)
        if number == 20429:
            code = twilio_429
        elif number == 60200:
            code = "phone_number_already_registered" if status == 409 else "invalid_request"
            if status == 400 and "`To`" in str(body.get("message", "")):
                code = "invalid_phone_number"
        elif number == 20404:
            code = "not_found"
        if code is None:
            return Answer(status, {}, "error")
        out = dict(body)
        retry = headers.get("Retry-After") if headers is not None else None
        if retry is not None:
            with contextlib.suppress(ValueError):  # a malformed header: no wait known
                out["retry_after_s"] = float(retry)
        return Answer(status, out, code)

    def _verifications(self, service: str) -> str:
        return f"/v2/Services/{quote(service, safe='')}/Verifications"

    def _create(self, service: str, to: str, twilio_429: str) -> Answer:
        def read(status, body, headers) -> Answer:
            if status == 201 and isinstance(body.get("sid"), str):
                sid = body["sid"]
                self.to[sid], self.service_of[sid] = to, service
                return Answer(status, {**body, "id": sid}, None)
            if status >= 400:
                return self._refusal(status, body, headers, twilio_429)
            return Answer(status, {}, "error")

        return self._request(
            "POST",
            self._verifications(service),
            "POST /v2/Services/{ServiceSid}/Verifications",
            {"To": to, "Channel": "sms"},
            read,
        )

    # -- the visitor's operations ----------------------------------------------

    def start(self, phone: str, country: str | None, account: str) -> Answer:
        """Create a verification for ``phone`` in the visitor's service.

        ``country`` is not sent: ``To`` is E.164, as ``/v2`` requires.
        """
        service = self.services.get(account[:1], self.services[""])
        return self._create(service, phone, "rate_limited")

    def resend(self, vid: str) -> Answer:
        """Create again for the same number: Twilio's resend."""
        if vid not in self.to:
            return Answer(0, {}, "not_found")
        return self._create(self.service_of[vid], self.to[vid], "resend_too_soon")

    def check(self, vid: str, code: str) -> Answer:
        """Check by ``To``, as apps do; a 20404 is told apart by fetching ``vid``."""
        if vid not in self.to:
            return Answer(0, {}, "not_found")
        service, to = self.service_of[vid], self.to[vid]

        def read(status, body, headers) -> Answer:
            if status == 200:
                if body.get("status") == "approved" and body.get("valid") is True:
                    return Answer(status, body, None)
                if body.get("valid") is False:
                    left = 0 if body.get("status") == "max_attempts_reached" else None
                    return Answer(status, {**body, "attempts_left": left}, "incorrect_code")
                return Answer(status, {}, "error")
            return self._refusal(status, body, headers, "rate_limited")

        answer = self._request(
            "POST",
            f"/v2/Services/{quote(service, safe='')}/VerificationCheck",
            "POST /v2/Services/{ServiceSid}/VerificationCheck",
            {"To": to, "Code": code},
            read,
        )
        if answer.code == "not_found":
            return self._why_not_found(vid, answer)
        return answer

    def _why_not_found(self, vid: str, answer: Answer) -> Answer:
        """What a 20404 on a check meant, from the verification's own status."""
        status = self.fetch(vid).body.get("status")
        if status in PENDING_AGAIN:
            return Answer(answer.status, answer.body, "code_expired")
        if status == "max_attempts_reached":
            return Answer(answer.status, answer.body, "locked_out")
        return Answer(answer.status, answer.body, "verification_not_pending")

    def fetch(self, vid: str) -> Answer:
        """Read one verification (``GET``)."""
        service = self.service_of.get(vid, self.services[""])

        def read(status, body, headers) -> Answer:
            if status == 200:
                return Answer(status, body, None)
            return self._refusal(status, body, headers, "rate_limited")

        return self._request(
            "GET",
            f"{self._verifications(service)}/{quote(vid, safe='')}",
            "GET /v2/Services/{ServiceSid}/Verifications/{Sid}",
            None,
            read,
        )

    def cancel(self, vid: str) -> Answer:
        """Cancel by update (``Status=canceled``)."""
        service = self.service_of.get(vid, self.services[""])

        def read(status, body, headers) -> Answer:
            if status == 200 and body.get("status") == "canceled":
                return Answer(status, body, None)
            if status >= 400:
                answer = self._refusal(status, body, headers, "rate_limited")
                if answer.code == "not_found":
                    return Answer(status, answer.body, "verification_not_pending")
                return answer
            return Answer(status, {}, "error")

        return self._request(
            "POST",
            f"{self._verifications(service)}/{quote(vid, safe='')}",
            "POST /v2/Services/{ServiceSid}/Verifications/{Sid}",
            {"Status": "canceled"},
            read,
        )

    def bind(self, account: str, vid: str) -> Answer:
        """Nothing to call: ``/v2`` cannot bind a number to an account."""
        return Answer(0, {}, NOT_AVAILABLE)
