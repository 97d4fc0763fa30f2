"""The JSON shapes of Twilio's Verify v2 resources, built from the engine's ``Verification``.

Field names, SID formats (two letters and 32 hex digits) and the ISO 8601 UTC dates are
those of Twilio's published OpenAPI description; so are the statuses, mapped from ours:
``cancelled`` is spelled ``canceled``, ``locked`` (no attempts left) is
``max_attempts_reached``, and a consumed approval is still ``approved``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime

from ...verification import Verification

SID = re.compile(r"^(AC|SK|VA|VE)[0-9a-fA-F]{32}$")
STATUS = {
    "pending": "pending",
    "approved": "approved",
    "consumed": "approved",
    "cancelled": "canceled",
    "expired": "expired",
    "locked": "max_attempts_reached",
}


def new_sid(prefix: str) -> str:
    """A fresh SID: ``prefix`` and 32 random hex digits."""
    return prefix + secrets.token_hex(16)


def derived_sid(prefix: str, seed: str) -> str:
    """A stable SID for ``seed`` (e.g. a send attempt's ``VL…`` from its verification)."""
    return prefix + hashlib.sha256(seed.encode()).hexdigest()[:32]


def account_sid(user: str) -> str:
    """The account SID answers carry: the caller's ``AC…``, or one derived from its ``SK…``."""
    return user if user.startswith("AC") else "AC" + user[2:]


def date(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def verification(ver: Verification, service_sid: str, account: str, base: str) -> dict:
    """A ``verify.v2.service.verification`` resource."""
    status = STATUS.get(ver.status, "failed")
    return {
        "sid": ver.id,
        "service_sid": service_sid,
        "account_sid": account,
        "to": ver.phone,
        "channel": ver.channel,
        "status": status,
        "valid": status == "approved",
        "lookup": {},
        "amount": None,
        "payee": None,
        "send_code_attempts": [
            {
                "time": date(at),
                "channel": by,
                "attempt_sid": derived_sid("VL", f"{ver.id}:{n}"),
            }
            for n, (at, by) in enumerate(zip(ver.sent_at, ver.sent_by, strict=True))
        ],
        "date_created": date(ver.created_at),
        "date_updated": date(ver.updated_at),
        "sna": None,
        "url": f"{base}/v2/Services/{service_sid}/Verifications/{ver.id}",
    }


def check(ver: Verification, service_sid: str, account: str) -> dict:
    """A ``verify.v2.service.verification_check`` resource."""
    status = STATUS.get(ver.status, "failed")
    return {
        "sid": ver.id,
        "service_sid": service_sid,
        "account_sid": account,
        "to": ver.phone,
        "channel": ver.channel,
        "status": status,
        "valid": status == "approved",
        "amount": None,
        "payee": None,
        "date_created": date(ver.created_at),
        "date_updated": date(ver.updated_at),
        "sna_attempts_error_codes": [],
    }


def service(record: dict, base: str) -> dict:
    """A ``verify.v2.service`` resource from its stored record."""
    url = f"{base}/v2/Services/{record['sid']}"
    return {
        "sid": record["sid"],
        "account_sid": record["account_sid"],
        "friendly_name": record["friendly_name"],
        "code_length": record["code_length"],
        "lookup_enabled": False,
        "psd2_enabled": False,
        "skip_sms_to_landlines": False,
        "dtmf_input_required": False,
        "tts_name": None,
        "do_not_share_warning_enabled": False,
        "custom_code_enabled": False,
        "push": None,
        "totp": None,
        "default_template_sid": None,
        "whatsapp": None,
        "passkeys": None,
        "verify_event_subscription_enabled": False,
        "date_created": date(record["created_at"]),
        "date_updated": date(record["created_at"]),
        "url": url,
        "links": {
            "verifications": f"{url}/Verifications",
            "verification_checks": f"{url}/VerificationCheck",
        },
    }
