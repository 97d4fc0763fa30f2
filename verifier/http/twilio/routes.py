"""The Verify v2 operations apps use, on the engine: services, verifications, checks.

Requests are form-encoded as Twilio's are; answers are its JSON shapes (``shapes``) and
its error bodies (``errors``). Each handler reads its parameters, calls the engine and
shapes the answer; the rules stay in the engine.

Twilio semantics kept here: creating a verification again for a ``To`` with a pending one
resends it (same SID, one more ``send_code_attempts`` entry, past the cap 60203); a wrong
code answers 200 ``status: pending``, ``valid: false``; a check of a verification that is
no longer pending answers 20404, as the hosted service's deleted verifications do.
"""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, Request, Response

from ...errors import IncorrectCode, InvalidRequest, NotFound
from ...phone import parse_phone
from ...verification import Verification
from .. import clients
from . import shapes
from .errors import InvalidParameter
from .services import MAX_NAME, Services

router = APIRouter(include_in_schema=False)

FORM = "application/x-www-form-urlencoded"
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
LOCALE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}$")
MAX_CODE = 64
MAX_FIELDS = 64


async def read_form(request: Request) -> dict[str, str]:
    """The form-encoded body as a dict (the last value of a repeated name wins)."""
    raw = await request.body()
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if raw and kind != FORM:
        raise InvalidParameter("Content-Type", f"expected {FORM}")
    try:
        pairs = parse_qsl(
            raw.decode("utf-8"), keep_blank_values=True, errors="strict", max_num_fields=MAX_FIELDS
        )
    except ValueError:
        raise InvalidRequest("the body is not a valid UTF-8 form") from None
    return dict(pairs)


Form = Annotated[dict[str, str], Depends(read_form)]


def _text(values, name: str, limit: int, required: bool = False) -> str | None:
    value = values.get(name)
    if value is None or value == "":
        if required:
            raise InvalidParameter(name, "missing required parameter")
        return None
    if len(value) > limit or CONTROL.search(value):
        raise InvalidParameter(name, f"expected up to {limit} printable characters")
    return value


def _int(values, name: str, low: int, high: int) -> int | None:
    value = values.get(name)
    if value is None or value == "":
        return None
    if not re.fullmatch(r"[0-9]{1,6}", value) or not low <= int(value) <= high:
        raise InvalidParameter(name, f"expected an integer from {low} to {high}")
    return int(value)


def _services(request: Request) -> Services:
    return request.app.state.twilio_services


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _account(request: Request) -> str:
    return shapes.account_sid(request.scope["state"]["twilio_user"])


def _service(request: Request, service_sid: str) -> dict:
    found = _services(request).get(service_sid)
    if found is None:
        raise NotFound(f"The requested resource /Services/{service_sid[:34]} was not found")
    return found


def _e164(to: str) -> str:
    """``To`` in E.164, as Twilio requires (a national form is refused)."""
    if not to.startswith("+"):
        raise InvalidParameter("To", "expected a phone number in E.164 format")
    return parse_phone(to, None).e164


def _client_ip(request: Request, device_ip: str | None) -> str:
    """``DeviceIp`` if given; else, as on ``/v1``, a trusted proxy's header or the key."""
    if device_ip is not None:
        ip = clients.address(device_ip)
        if ip is None:
            raise InvalidParameter("DeviceIp", "expected an IP address")
        return ip
    caller = request.scope["state"]["caller"]
    return clients.resolve(request, None, request.app.state.config, caller)[0]


def _verification(request: Request, service: dict, sid: str) -> Verification:
    """The verification ``sid`` of ``service``; another service's answers 20404 too."""
    ver = _services(request).verifier_for(service).get(sid)
    if not Services.owns(service, ver.account_id):
        raise NotFound()
    return ver


@router.post("/v2/Services", status_code=201)
def create_service(request: Request, form: Form) -> dict:
    name = _text(form, "FriendlyName", MAX_NAME, required=True)
    length = _int(form, "CodeLength", 4, 10)
    record = _services(request).create(_account(request), name, length)
    return shapes.service(record, _base(request))


@router.get("/v2/Services")
def list_services(request: Request) -> dict:
    query = request.query_params
    size = _int(query, "PageSize", 1, 1000) or 50
    page = _int(query, "Page", 0, 100000) or 0
    everything = _services(request).all()
    shown = everything[page * size : (page + 1) * size]
    base = f"{_base(request)}/v2/Services"

    def url(n: int) -> str:
        return f"{base}?{urlencode({'PageSize': size, 'Page': n})}"

    more = (page + 1) * size < len(everything)
    return {
        "services": [shapes.service(record, _base(request)) for record in shown],
        "meta": {
            "page": page,
            "page_size": size,
            "first_page_url": url(0),
            "previous_page_url": url(page - 1) if page > 0 else None,
            "next_page_url": url(page + 1) if more else None,
            "url": url(page),
            "key": "services",
        },
    }


@router.get("/v2/Services/{service_sid}")
def fetch_service(service_sid: str, request: Request) -> dict:
    return shapes.service(_service(request, service_sid), _base(request))


@router.post("/v2/Services/{service_sid}/Verifications", status_code=201)
def create_verification(service_sid: str, request: Request, form: Form) -> dict:
    service = _service(request, service_sid)
    to = _text(form, "To", 64, required=True)
    channel = _text(form, "Channel", 16, required=True)
    if channel not in ("sms", "call"):
        raise InvalidParameter("Channel", "only sms and call are available here")
    if form.get("CustomCode"):
        raise InvalidParameter("CustomCode", "custom codes are not enabled")
    locale = _text(form, "Locale", 16)
    if locale is not None and not LOCALE.match(locale):
        raise InvalidParameter("Locale", "expected a language tag such as en or pt-BR")
    e164 = _e164(to)
    services = _services(request)
    ver = services.verifier_for(service).start(
        phone=e164,
        country=None,
        account_id=services.account_id(service, e164),
        client_ip=_client_ip(request, _text(form, "DeviceIp", 64)),
        channel=channel,
        resend_pending=True,
    )
    return shapes.verification(ver, service["sid"], _account(request), _base(request))


@router.get("/v2/Services/{service_sid}/Verifications/{sid}")
def fetch_verification(service_sid: str, sid: str, request: Request) -> dict:
    service = _service(request, service_sid)
    ver = _verification(request, service, sid)
    return shapes.verification(ver, service["sid"], _account(request), _base(request))


@router.post("/v2/Services/{service_sid}/Verifications/{sid}")
def update_verification(service_sid: str, sid: str, request: Request, form: Form) -> dict:
    service = _service(request, service_sid)
    status = _text(form, "Status", 16, required=True)
    if status not in ("canceled", "approved"):
        raise InvalidParameter("Status", "expected canceled or approved")
    verifier = _services(request).verifier_for(service)
    ver = _verification(request, service, sid)
    ver = verifier.cancel(ver.id) if status == "canceled" else verifier.approve(ver.id)
    return shapes.verification(ver, service["sid"], _account(request), _base(request))


@router.post("/v2/Services/{service_sid}/VerificationCheck")
def create_verification_check(
    service_sid: str, request: Request, response: Response, form: Form
) -> dict:
    service = _service(request, service_sid)
    code = _text(form, "Code", MAX_CODE, required=True)
    sid = _text(form, "VerificationSid", 64)
    to = _text(form, "To", 64)
    services = _services(request)
    verifier = services.verifier_for(service)
    if sid is not None:
        ver = _verification(request, service, sid)
    elif to is not None:
        e164 = _e164(to)
        ver = verifier.pending_for(services.account_id(service, e164), e164)
    else:
        raise InvalidParameter("To", "either To or VerificationSid is required")
    try:
        ver = verifier.check(ver.id, code)
    except IncorrectCode:
        ver = verifier.get(ver.id)  # Twilio answers a wrong code 200, valid: false
    response.status_code = 200
    return shapes.check(ver, service["sid"], _account(request))
