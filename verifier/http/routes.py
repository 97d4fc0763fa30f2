"""The v1 endpoints: each one reads its request, calls the engine, and shapes its answer.

The engine is synchronous (a store transaction may wait on SQLite or Redis), so each
handler is written as a plain function and wrapped by :func:`offload`: FastAPI sees a
coroutine, and the handler's body runs in the thread pool once per request, or on the
event loop itself when the store is the in-process ``MemoryStore``, which never waits.
FastAPI would otherwise hop to the pool three times per request (the scope dependency,
the handler, the response validation), and each hop costs about as much as the engine's
work on the memory store (docs/benchmarks.md, "HTTP service"). Refusals are raised as
``VerificationError`` and turned into problem bodies by ``problems``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from ..errors import NotFound, VerificationError
from ..lifecycle import Verifier
from ..phone import check_policy, mask, parse_phone
from ..stores.memory import MemoryStore
from ..verification import Verification
from . import clients, problems
from .auth import Caller, require
from .idempotency import KEY_PATTERN, fingerprint
from .schemas import (
    NO_CONTROL,
    AccountNumberOut,
    BindRequest,
    ChangeRequest,
    CheckRequest,
    ConsumeRequest,
    DisputeOut,
    DisputeRequest,
    HealthOut,
    PhoneNumberOut,
    ReceiptOut,
    ReceiptRequest,
    ResendRequest,
    ResolveRequest,
    SandboxMessageOut,
    StartRequest,
    UnlockOut,
    VerificationOut,
)

T = TypeVar("T")


def operation_id(route) -> str:
    """operationId = the handler's name (the OpenAPI links and the clients rely on it)."""
    return route.name


router = APIRouter(generate_unique_id_function=operation_id)
sandbox_router = APIRouter(tags=["sandbox"], generate_unique_id_function=operation_id)
bench_router = APIRouter(include_in_schema=False, generate_unique_id_function=operation_id)

AccountId = Annotated[str, Path(min_length=1, max_length=128, pattern=NO_CONTROL)]
Country = Annotated[
    str | None,
    Query(max_length=8, pattern=NO_CONTROL, description="ISO 3166 alpha-2, e.g. JP"),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        pattern=KEY_PATTERN,
        description="same key and body: the same answer and a single SMS",
    ),
]
VERIFICATION_PROBLEMS = problems.responses(403, 404, 409, 410, 422, 423, 429)
Verify = Annotated[Caller, Depends(require("verify"))]
Admin = Annotated[Caller, Depends(require("admin"))]


def _links(source: str, *operations: str) -> dict:
    """OpenAPI links: the ``id`` this answer carries is the path id of these operations."""
    return {
        op: {"operationId": op, "parameters": {source: "$response.body#/id"}} for op in operations
    }


VERIFICATION_LINKS = _links(
    "verification_id",
    "get_verification",
    "check_verification",
    "resend_verification",
    "cancel_verification",
    "consume_verification",
)


def offload(handler: Callable[..., T]) -> Callable[..., T]:
    """``handler`` as a coroutine: run in the thread pool, or inline on a memory store.

    The wrapper keeps the handler's name and signature (``functools.wraps``), which is
    what FastAPI reads for parameters, the operationId and the outcome metric. It must
    live in this module: FastAPI resolves the handler's annotations in its globals.
    """

    @functools.wraps(handler)
    async def endpoint(**kwargs):
        if isinstance(kwargs["request"].app.state.verifier.store, MemoryStore):
            return handler(**kwargs)
        return await run_in_threadpool(functools.partial(handler, **kwargs))

    return endpoint


def _verifier(request: Request) -> Verifier:
    return request.app.state.verifier


def _out(ver: Verification, caller: Caller) -> dict:
    out = ver.to_dict()
    for field in ("created", "updated_at", "sent_at", "sent_by"):  # /v2's, not in /v1
        out.pop(field, None)
    if not caller.admin:
        out["phone"] = mask(out["phone"])
    return out


def _number(e164: str, caller: Caller) -> str:
    return e164 if caller.admin else mask(e164)


def _dispute(record: dict) -> dict:
    # The current owner's account stays out of the answer: the claimant must not learn it.
    keys = ("id", "status", "phone", "claimant", "opened_at", "resolved_at", "decision")
    return {key: record[key] for key in keys}


@router.post(
    "/v1/verifications",
    status_code=201,
    response_model=VerificationOut,
    tags=["verifications"],
    summary="Send a code, or return the pending verification",
    response_description="a new verification: a code was sent",
    responses={
        200: {
            "model": VerificationOut,
            "description": "the pending verification for this account and number (no SMS)",
            "links": VERIFICATION_LINKS,
        },
        201: {"links": VERIFICATION_LINKS},
        **problems.responses(403, 409, 422, 423, 429),
    },
)
@offload
def start_verification(
    body: StartRequest,
    request: Request,
    response: Response,
    caller: Verify,
    idempotency_key: IdempotencyKey = None,
) -> dict:
    config = request.app.state.config
    ip, device = clients.resolve(request, body.client, config, caller)
    if idempotency_key:
        # Keys are per credential: one caller can never replay another's answer.
        idempotency_key = f"{caller.key_id}:{idempotency_key}"
    body_hash = fingerprint(body.model_dump(mode="json")) if idempotency_key else ""
    if idempotency_key:
        replay = config.idempotency.begin(idempotency_key, body_hash)
        if replay is not None:
            response.status_code = replay.status
            response.headers["Location"] = f"/v1/verifications/{replay.body['id']}"
            return replay.body
    try:
        ver = _verifier(request).start(
            phone=body.phone,
            country=body.country,
            account_id=body.account_id,
            reference=body.reference,
            client_ip=ip,
            device_id=device,
            payment=body.payment.model_dump(exclude_none=True) if body.payment else None,
            channel=body.channel,
        )
    except BaseException:
        if idempotency_key:
            config.idempotency.abandon(idempotency_key, body_hash)
        raise
    out = _out(ver, caller)
    response.status_code = 201 if ver.created else 200
    response.headers["Location"] = f"/v1/verifications/{ver.id}"
    if idempotency_key:
        config.idempotency.finish(idempotency_key, body_hash, response.status_code, out)
    return out


@router.post(
    "/v1/verifications/{verification_id}/resend",
    response_model=VerificationOut,
    tags=["verifications"],
    summary="Send a new code once the cooldown allows",
    responses=problems.responses(404, 409, 422, 423, 429),
)
@offload
def resend_verification(
    verification_id: str, request: Request, caller: Verify, body: ResendRequest | None = None
) -> dict:
    channel = body.channel if body is not None else "sms"
    return _out(_verifier(request).resend(verification_id, channel=channel), caller)


@router.post(
    "/v1/verifications/{verification_id}/check",
    response_model=VerificationOut,
    tags=["verifications"],
    summary="Check a code: approve, or count a wrong attempt",
    responses=VERIFICATION_PROBLEMS,
)
@offload
def check_verification(
    verification_id: str, body: CheckRequest, request: Request, caller: Verify
) -> dict:
    ip, device = clients.resolve(request, body.client, request.app.state.config, caller)
    ver = _verifier(request).check(verification_id, body.code, client_ip=ip, device_id=device)
    return _out(ver, caller)


@router.post(
    "/v1/verifications/{verification_id}/consume",
    response_model=VerificationOut,
    tags=["verifications"],
    summary="The purchase step: use an approval once, for its own order",
    responses=problems.responses(403, 404, 409, 422),
)
@offload
def consume_verification(
    verification_id: str, body: ConsumeRequest, request: Request, caller: Verify
) -> dict:
    return _out(_verifier(request).consume(verification_id, body.reference), caller)


@router.get(
    "/v1/verifications/{verification_id}",
    response_model=VerificationOut,
    tags=["verifications"],
    responses=problems.responses(404, 422),
)
@offload
def get_verification(verification_id: str, request: Request, caller: Verify) -> dict:
    return _out(_verifier(request).get(verification_id), caller)


@router.delete(
    "/v1/verifications/{verification_id}",
    response_model=VerificationOut,
    tags=["verifications"],
    summary="Cancel a pending verification (e.g. the buyer re-enters the number)",
    responses=problems.responses(404, 409, 422),
)
@offload
def cancel_verification(verification_id: str, request: Request, caller: Verify) -> dict:
    return _out(_verifier(request).cancel(verification_id), caller)


@router.get(
    "/v1/phone-numbers/{phone}",
    response_model=PhoneNumberOut,
    tags=["phone numbers"],
    summary="Normalise a number and say whether the policy lets it verify",
    responses=problems.responses(422),
)
@offload
def lookup_phone_number(
    phone: str, request: Request, caller: Verify, country: Country = None
) -> dict:
    info = parse_phone(phone, country)
    try:
        check_policy(info, _verifier(request).policy.numbers)
        verifiable, reason = True, None
    except VerificationError as err:
        verifiable, reason = False, err.code
    return {
        "e164": info.e164,
        "region": info.region,
        "type": info.type,
        "verifiable": verifiable,
        "reason": reason,
    }


@router.put(
    "/v1/accounts/{account_id}/phone-number",
    response_model=AccountNumberOut,
    tags=["accounts"],
    summary="Bind the number of an approved verification to its account",
    responses=problems.responses(404, 409, 422),
)
@offload
def bind_phone_number(
    account_id: AccountId, body: BindRequest, request: Request, caller: Verify
) -> dict:
    e164 = _verifier(request).registry.bind(account_id, body.verification_id)
    return {"account_id": account_id, "phone": _number(e164, caller), "bound": True}


@router.post(
    "/v1/delivery-receipts/{token}",
    response_model=ReceiptOut,
    tags=["delivery"],
    summary="A gateway's delivery receipt for one message (the token is the credential)",
    responses=problems.responses(404, 422),
)
@offload
def delivery_receipt(token: str, body: ReceiptRequest, request: Request) -> dict:
    ver = _verifier(request).receipt_by_token(token, body.state, body.expected_wait_s)
    return {"state": ver.delivery["state"] if ver.delivery else body.state}


@router.post(
    "/v1/accounts/{account_id}/phone-number/change",
    status_code=201,
    response_model=VerificationOut,
    tags=["accounts"],
    summary="Start a change of number: a verification of the new number",
    response_description="a verification of the new number; on its approval the binding "
    "moves and the old number gets a notice",
    responses={
        200: {"model": VerificationOut, "description": "the pending change (no SMS)"},
        201: {"links": VERIFICATION_LINKS},
        **problems.responses(403, 404, 409, 422, 423, 429),
    },
)
@offload
def change_phone_number(
    account_id: AccountId,
    body: ChangeRequest,
    request: Request,
    response: Response,
    caller: Verify,
) -> dict:
    ip, device = clients.resolve(request, body.client, request.app.state.config, caller)
    ver = _verifier(request).change_number(
        account_id, body.phone, body.country, client_ip=ip, device_id=device
    )
    response.status_code = 201 if ver.created else 200
    response.headers["Location"] = f"/v1/verifications/{ver.id}"
    return _out(ver, caller)


@router.get(
    "/v1/accounts/{account_id}/phone-number",
    response_model=AccountNumberOut,
    tags=["accounts"],
    responses=problems.responses(404, 422),
)
@offload
def get_phone_number(account_id: AccountId, request: Request, caller: Verify) -> dict:
    e164 = _verifier(request).registry.number_of(account_id)
    if e164 is None:
        raise NotFound("this account has no number")
    return {"account_id": account_id, "phone": _number(e164, caller), "bound": True}


@router.delete(
    "/v1/accounts/{account_id}/phone-number",
    response_model=AccountNumberOut,
    tags=["accounts"],
    summary="The owner releases the number",
    responses=problems.responses(404, 422),
)
@offload
def release_phone_number(account_id: AccountId, request: Request, caller: Admin) -> dict:
    e164 = _verifier(request).registry.release(account_id)
    return {"account_id": account_id, "phone": e164, "bound": False}


@router.post(
    "/v1/disputes",
    status_code=201,
    response_model=DisputeOut,
    tags=["disputes"],
    summary="A claimant says a registered (recycled) number is now theirs",
    responses={
        201: {"links": _links("dispute_id", "resolve_dispute")},
        **problems.responses(404, 422, 429),
    },
)
@offload
def open_dispute(body: DisputeRequest, request: Request, caller: Admin) -> dict:
    registry = _verifier(request).registry
    return _dispute(registry.open_dispute(body.phone, body.claimant, body.country))


@router.post(
    "/v1/disputes/{dispute_id}/resolve",
    response_model=DisputeOut,
    tags=["disputes"],
    summary="Support's decision: release force-releases the number, reject keeps it",
    responses=problems.responses(404, 409, 422),
)
@offload
def resolve_dispute(dispute_id: str, body: ResolveRequest, request: Request, caller: Admin) -> dict:
    if len(dispute_id) > 64:
        raise NotFound("no such dispute")
    return _dispute(_verifier(request).registry.resolve_dispute(dispute_id, body.decision))


@router.get(
    "/v1/disputes/{dispute_id}",
    response_model=DisputeOut,
    tags=["disputes"],
    summary="A dispute as opened or resolved",
    responses=problems.responses(404, 422),
)
@offload
def get_dispute(dispute_id: str, request: Request, caller: Admin) -> dict:
    return _dispute(_verifier(request).registry.get_dispute(dispute_id))


@router.post(
    "/v1/accounts/{account_id}/unlock",
    response_model=UnlockOut,
    tags=["accounts"],
    summary="Support's reset of an account stopped by too many wrong codes in a row",
    responses=problems.responses(422),
)
@offload
def unlock_account(account_id: AccountId, request: Request, caller: Admin) -> dict:
    return {"account_id": account_id, "unlocked": _verifier(request).unlock_account(account_id)}


@sandbox_router.get(
    "/sandbox/messages",
    response_model=list[SandboxMessageOut],
    summary="Messages the sandbox sender kept for a number, newest last",
    responses=problems.responses(422),
)
@offload
def sandbox_messages(
    request: Request,
    caller: Admin,
    to: Annotated[str, Query(min_length=1, max_length=64, pattern=NO_CONTROL)],
    country: Country = None,
) -> list[dict]:
    # A "+" that was not percent-encoded arrives as a space: E.164 is what "to" means.
    number = to.strip()
    if country is None and not number.startswith("+"):
        number = "+" + number
    e164 = parse_phone(number, country).e164
    return [m.to_dict() for m in request.app.state.sandbox.messages(e164)]


@router.get("/healthz", response_model=HealthOut, tags=["operations"])
async def healthz() -> dict:
    return {"status": "ok", "pid": os.getpid()}


@router.get(
    "/metrics",
    tags=["operations"],
    summary="Prometheus text exposition",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def metrics_endpoint(request: Request) -> Response:
    from . import metrics

    body, content_type = metrics.render(request.app.state.config.outbox_depth)
    return Response(body, media_type=content_type)


@bench_router.get("/bench/noop")
def bench_noop() -> dict:
    """A route that does no work, to measure the stack's own ceiling next to real flows."""
    return {"ok": True}
