"""What every Locust process of one load test needs to know, as one JSON file.

The runner writes the file and names it in ``SMSVERIFY_LOADTEST_CONFIG``; the
locustfile reads it at import, in the master and in every worker alike (workers on
other hosts get a copy of the file and the same variable). It holds the *transformed*
scenario, so the load generators and the model play exactly the same one.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from simulation.scenario import Scenario
from verifier.errors import ConfigError

ENV = "SMSVERIFY_LOADTEST_CONFIG"

KEY_ENV = "SMSVERIFY_LOADTEST_KEY"  # the run's verify secret, set by the runner

APIS = ("v1", "twilio")  # what ``smsverify loadtest --api`` drives


def basic(user: str, password: str) -> str:
    """The ``Authorization`` header value of HTTP Basic, as the ``twilio`` SDK sends it."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass(frozen=True, slots=True)
class LoadConfig:
    """One run's settings for the load generators."""

    scenario: dict  # the transformed scenario, as ``Scenario.to_dict`` gives it
    gateway: str  # base URL of the fake gateway (inboxes, time zero)
    out: str  # folder where each process writes its outcomes file
    run_s: float  # sessions still running this long after time zero are cut off
    processes: int  # Locust processes that generate load (1, or the worker count)
    max_sessions: int  # concurrent sessions allowed over all processes; beyond: overflow
    code_length: int  # digits of a code, for the brute-forcer's guesses
    nonce: int  # differs per run, so numbers and accounts never repeat across runs
    lead_s: float = 1.0  # time zero is this long after the first process asks for it
    api: str = "v1"  # "v1": smsverify's own API; "twilio": the Verify v2 shape (/v2)
    # With api = "twilio": the account SID the load generators authenticate as, and the
    # service SIDs by the first letter of a visitor's account ("" for every other one).
    account_sid: str = ""
    services: dict[str, str] = field(default_factory=dict)
    # Locust's statistics are reset this long after time zero (0: never), so a capacity
    # step measures its steady state, not the first seconds when no check has come yet.
    warmup_s: float = 0.0

    def __post_init__(self) -> None:
        if self.api not in APIS:
            raise ConfigError("api", f"expected one of {', '.join(APIS)}, got {self.api!r}")
        if self.api == "twilio" and "" not in self.services:
            raise ConfigError("services", "api = twilio needs a default service (key '')")

    def scenario_object(self) -> Scenario:
        return Scenario.from_dict(self.scenario)

    @property
    def sessions_per_process(self) -> int:
        return max(1, -(-self.max_sessions // self.processes))

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n", "utf-8")
        return path

    @classmethod
    def read(cls, path: str | Path) -> LoadConfig:
        try:
            data = json.loads(Path(path).read_text("utf-8"))
        except (OSError, ValueError) as err:
            raise ConfigError(ENV, f"cannot read the load-test configuration: {err}") from None
        return cls(**data)

    @classmethod
    def from_env(cls) -> LoadConfig:
        path = os.environ.get(ENV)
        if not path:
            raise ConfigError(ENV, "not set: run load tests with `smsverify loadtest`")
        return cls.read(path)
