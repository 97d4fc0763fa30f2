"""Layer fences: the engine imports no web, load-test or simulation stack; its API is pinned."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import verifier

FORBIDDEN = ("simpy", "locust", "gevent", "fastapi", "uvicorn", "starlette", "redis")
ROOT = Path(__file__).resolve().parents[2]


def test_import_verifier_pulls_in_no_other_layer():
    code = "import json, sys, verifier; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout))
    assert not {m for m in loaded if m.split(".")[0] in FORBIDDEN}


def test_public_api_is_the_documented_one():
    assert set(verifier.__all__) == {
        "ERRORS",
        "Clock",
        "ConfigError",
        "Event",
        "ManualClock",
        "MemoryStore",
        "Message",
        "PhoneInfo",
        "Policy",
        "SandboxSender",
        "SystemClock",
        "Verification",
        "VerificationError",
        "Verifier",
        "parse_phone",
    }
    for name in verifier.__all__:
        assert getattr(verifier, name) is not None


def test_engine_modules_never_read_the_wall_clock():
    """The engine reads time only from its injected clock.

    The edge modules are exempt: the clocks themselves, the command line, and the
    gateway outbox's delivery loop (stores/ and http/ are packages, not engine modules).
    """
    engine = ROOT / "verifier"
    offenders = []
    for path in engine.glob("*.py"):
        if path.name in ("clock.py", "cli.py", "outbox.py"):
            continue
        text = path.read_text()
        if "import time" in text or "datetime" in text or "SystemClock()" in text:
            offenders.append(path.name)
    assert offenders == []


def test_error_codes_match_the_contract_table():
    table = {
        "invalid_phone_number": 422,
        "unsupported_number_type": 422,
        "country_not_allowed": 422,
        "phone_number_already_registered": 409,
        "resend_too_soon": 429,
        "max_sends_reached": 429,
        "rate_limited": 429,
        "incorrect_code": 422,
        "code_expired": 410,
        "locked_out": 423,
        "verification_not_pending": 409,
        "abnormal_operation": 403,
        "stepup_refused": 403,
        "reference_mismatch": 409,
        "approval_expired": 409,
        "already_consumed": 409,
        "not_found": 404,
        "invalid_request": 422,
    }
    assert {code: cls.http_status for code, cls in verifier.ERRORS.items()} == table


def test_readme_example_runs():
    """The README's engine snippet is executed as written."""
    text = (ROOT / "README.md").read_text()
    snippet = text.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(snippet, "README.md", "exec"), {})


def _imports(path: Path) -> set[str]:
    """Modules a source file imports, relative ones resolved within ``verifier``."""
    import ast

    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                found.add(f"verifier.{node.module}" if node.module else "verifier")
                found |= {f"verifier.{alias.name}" for alias in node.names if not node.module}
            elif node.module:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


def test_the_registry_and_the_rules_never_import_the_verifier():
    """Rules are called by the verifier; none of them (nor the registry) reaches back."""
    rules = ["registry", "core", "expiry", "budget", "attempts", "ownership", "limits",
             "failures", "fraud", "purchase", "phone", "keys"]  # fmt: skip
    for name in rules:
        assert "verifier.lifecycle" not in _imports(ROOT / "verifier" / f"{name}.py"), name


def test_store_keys_are_built_only_in_keys_py():
    import re

    pattern = re.compile(
        r"""f?["'](v|pending|owner|account|lock|sends|streak|rl|dispute|sandbox|idem|apikey|fraud:prefix):[{"']"""
    )
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "verifier").rglob("*.py")
        if path.name != "keys.py" and pattern.search(path.read_text())
    ]
    assert offenders == []


def test_verifier_imports_no_layer_above_it():
    """The engine and its service import nothing of the model, load tests, reports or CLI."""
    above = ("simulation", "loadtests", "reports", "smsverify", "actors")
    offenders = {
        str(path.relative_to(ROOT)): sorted(m for m in _imports(path) if m.split(".")[0] in above)
        for path in (ROOT / "verifier").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}
