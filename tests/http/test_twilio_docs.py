"""docs/twilio.md holds: its FastAPI snippet runs against a real server, and its error
table is the one ``verifier/http/twilio/errors.py`` answers with."""

from __future__ import annotations

import base64
import re
import warnings
from pathlib import Path

from servekit import VERIFY_KEY, call, jp_mobile, policy_toml, wrong_code

from verifier.http.twilio.errors import TWILIO

DOC = Path(__file__).resolve().parents[2] / "docs" / "twilio.md"
ACCOUNT = "AC" + "9" * 32

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def _snippet() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) == 1
    return blocks[0]


def test_the_error_table_is_the_one_served():
    rows = re.findall(r"^\| `(\w+)` \| (\d+) \| (\d+) \|", DOC.read_text(), re.M)
    table = {code: (int(number), int(status)) for code, number, status in rows}
    assert table == {code: (m.code, m.status) for code, m in TWILIO.items()}


def test_the_fastapi_snippet_runs_unchanged_but_for_url_and_credentials(
    server, tmp_path, monkeypatch
):
    srv = server(
        store=f"sqlite:///{tmp_path / 'docs.db'}",
        policy=policy_toml(fraud={"min_check_delay_s": 0}, limits={"per_ip_per_hour": 0}),
    )
    basic = {"Authorization": "Basic " + _b64(f"{ACCOUNT}:{VERIFY_KEY}")}
    created = call(
        srv.base,
        "POST",
        "/v2/Services",
        raw=b"FriendlyName=Shop",
        headers={**basic, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert created.status == 201, created.body
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", VERIFY_KEY)
    monkeypatch.setenv("VERIFY_BASE_URL", srv.base)
    monkeypatch.setenv("VERIFY_SERVICE_SID", created.body["sid"])
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # the SDK's requests honours proxy settings
    scope: dict = {"__name__": "shop"}
    exec(compile(_snippet(), "docs/twilio.md", "exec"), scope)
    shop = TestClient(scope["app"])
    _, e164 = jp_mobile(42_000_001)
    sent = shop.post("/phone/send", json={"phone": e164})
    assert sent.status_code == 200 and sent.json() == {"status": "pending", "sends": 1}
    code = srv.admin.code_for(e164)
    assert shop.post("/phone/check", json={"phone": e164, "code": wrong_code(code)}).json() == {
        "approved": False
    }
    assert shop.post("/phone/check", json={"phone": e164, "code": code}).json() == {
        "approved": True
    }
    gone = shop.post("/phone/check", json={"phone": e164, "code": code})
    assert gone.status_code == 404  # approved: nothing pending, the SDK's 20404


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()
