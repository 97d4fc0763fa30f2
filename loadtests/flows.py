"""The open-arrival driver of one Locust process: sessions start on schedule, not on cue.

A closed Locust user waits for its last answer before its next request, so a slow
server quietly receives fewer buyers, the very effect a load test must expose. Here
each Locust process runs one :class:`Process`, which

1. asks the fake gateway for the run's time zero (the first process to ask fixes it,
   so every process, the busy windows and the gateway's series share one timeline);
2. plays its share of the arrivals: buyer ``i`` of the model's own arrival times
   (``simulation.arrivals.arrival_times`` on the model's arrival stream, so measured
   and predicted buyers arrive at the same instants) belongs to process
   ``i mod processes``, and is started as its own greenlet at its time whether or not
   earlier buyers got answers; attackers run at ``rate / processes`` each;
3. caps concurrent sessions at ``sessions_per_process``: a buyer arriving while every
   slot is taken is recorded as ``overflow``, never silently dropped;
4. at ``run_s`` after time zero kills what still runs (recorded as ``cut_off``) and
   writes ``OUT/process-{index}.json``: every session row, the schedule lag, overflow,
   and a summary of its buyers (verified, time to verify, codes expired, lockouts,
   abandoned, SMS asked).
"""

from __future__ import annotations

import json
import logging
import os
import time
import zlib
from pathlib import Path

import gevent
import numpy as np
from gevent.pool import Group

from simulation.arrivals import arrival_times
from simulation.durations import stream, uniforms
from simulation.numbers import NumberPlan
from simulation.run import streams

from .api import Api
from .config import KEY_ENV, LoadConfig
from .outcomes import OVERFLOW, frame, summarise
from .twilio_api import TwilioApi
from .visitors import BruteForcer, Buyer, Enumerator, Pumper, Session, sleep_until

LOG = logging.getLogger("smsverify.loadtest")
KILL_TIMEOUT_S = 10.0


class Process:
    """The sessions, sources and records of one Locust process."""

    current: Process | None = None

    def __init__(self, server_client, gateway_client, config: LoadConfig, index: int) -> None:
        if not 0 <= index < config.processes:
            raise ValueError(f"process index {index} outside 0..{config.processes - 1}")
        self.config = config
        self.scenario = config.scenario_object()
        self.users = self.scenario.users
        self.index = index
        self.nonce = config.nonce
        self.code_length = config.code_length
        self.api = (
            TwilioApi(
                server_client, config.services, config.account_sid, os.environ.get(KEY_ENV, "")
            )
            if config.api == "twilio"
            else Api(server_client)
        )
        self.gateway = gateway_client
        self.log = LOG
        self.read_type = stream(self.users.read_type_s.block(self.rng("read_type")))
        self.uniform = uniforms(self.rng("typos"))
        self.plan = NumberPlan(self.scenario.numbers.countries, self.rng("numbers"))
        self.registered: list[tuple[str, str]] = []
        self.rows: list[dict] = []
        self.sessions = Group()
        self.sources = Group()
        self.epoch: float | None = None
        self.stopped_at: float | None = None
        self.path = Path(config.out) / f"process-{index}.json"

    def rng(self, name: str) -> np.random.Generator:
        """This process's own stream for one concern, from the scenario seed and the run."""
        key = (self.nonce, self.index, zlib.crc32(name.encode()))
        return np.random.default_rng(np.random.SeedSequence(self.scenario.seed, spawn_key=key))

    # -- running ---------------------------------------------------------------

    def start(self) -> None:
        """Fix time zero with the gateway, then start every source and the cut-off timer."""
        answer = self.gateway.post(
            "/timeline", json={"lead_s": self.config.lead_s}, name="POST /timeline (gateway)"
        )
        answer.raise_for_status()
        self.epoch = float(answer.json()["epoch"])
        s, fraud = self.scenario, self.scenario.fraud
        end_at = self.epoch + s.duration_s
        home, share = s.numbers.countries[0], 1 / self.config.processes
        self.sources.spawn(self._buyers)
        if fraud.bruteforce_rate_per_s > 0:
            brute = BruteForcer(self, fraud.bruteforce_rate_per_s * share, end_at, home)
            self.sources.spawn(self._later, brute.run)
        if fraud.pumping_rate_per_s > 0:
            pump = Pumper(self, fraud.pumping_rate_per_s * share, end_at, fraud.pumping_country)
            self.sources.spawn(self._later, pump.run)
        if fraud.enumeration_rate_per_s > 0:
            rate = fraud.enumeration_rate_per_s * share
            enum = Enumerator(self, rate, end_at, home, fraud.enumeration_registered_share)
            self.sources.spawn(self._later, enum.run)
        gevent.spawn(self._cut_off)

    def _later(self, run) -> None:
        sleep_until(self.epoch)
        run()

    def _buyers(self) -> None:
        s = self.scenario
        times = arrival_times(
            streams(s.seed, 1, 0)["arrivals"],
            s.duration_s,
            s.arrivals.rate_per_s,
            s.arrivals.profile,
        ).tolist()
        n = len(times)
        # Drawn alike in every process (same seed and run), so each process's share of
        # buyers has distinct numbers whatever the number of processes.
        shared = np.random.default_rng(np.random.SeedSequence(s.seed, spawn_key=(self.nonce,)))
        countries, numbers = NumberPlan(s.numbers.countries, shared).buyers(n)
        blocked = (shared.random(n) < self.users.blocks_sms_share).tolist()
        landline = (shared.random(n) < s.numbers.landline_typo_share).tolist()
        for i in range(self.index, n, self.config.processes):
            sleep_until(self.epoch + times[i])
            buyer = Buyer(self, i, times[i], countries[i], numbers[i], blocked[i], landline[i])
            self.spawn(buyer)

    def spawn(self, session: Session) -> None:
        """Start a session now, or record it as overflow when every slot is taken."""
        if len(self.sessions) >= self.config.sessions_per_process:
            session.outcome = OVERFLOW
            session.lag = time.time() - (self.epoch + session.arrival_s)
            self.record(session, ended=self.epoch + session.arrival_s)
            return
        self.sessions.spawn(session.run)

    def record(self, session: Session, ended: float | None = None) -> None:
        end = time.time() if ended is None else ended
        self.rows.append(
            {
                "actor": session.actor,
                "session": session.session,
                "country": session.country,
                "arrival_s": session.arrival_s,
                "end_s": end - self.epoch,
                "outcome": session.outcome,
                "ttv_s": session.ttv,
                "sends": session.sends,
                "checks": session.checks,
                "wrong_codes": session.wrong,
                "codes_expired": session.expired,
                "sms_received": session.received,
                "blocks_sms": session.blocked,
                "recycled": False,
                "landline_typo": session.landline,
                "start_lag_s": session.lag,
                "verification_id": session.vid,
            }
        )

    # -- stopping --------------------------------------------------------------

    def _cut_off(self) -> None:
        sleep_until(self.epoch + self.config.run_s)
        self.stop()

    def stop(self) -> None:
        """Kill sources and sessions (recorded as cut off), then write the outcomes file."""
        if self.stopped_at is not None or self.epoch is None:
            return
        self.stopped_at = time.time()
        self.sources.kill(block=True, timeout=KILL_TIMEOUT_S)
        self.sessions.kill(block=True, timeout=KILL_TIMEOUT_S)
        self.write()

    def write(self) -> Path:
        lags = [r["start_lag_s"] for r in self.rows if r["start_lag_s"] is not None]
        header = {
            "process": self.index,
            "processes": self.config.processes,
            "pid": os.getpid(),
            "epoch": self.epoch,
            "run_s": self.config.run_s,
            "stopped_at_s": self.stopped_at - self.epoch,
            "sessions_cap": self.config.sessions_per_process,
            "overflow": sum(r["outcome"] == OVERFLOW for r in self.rows),
            "start_lag_max_s": max(lags, default=None),
            "start_lag_mean_s": sum(lags) / len(lags) if lags else None,
            # This process's share at a glance: verified, time to verify, codes expired,
            # lockouts, abandoned, SMS asked (the report reads the rows themselves).
            "summary": summarise(frame(self.rows), self.config.run_s),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".part")
        partial.write_text(json.dumps({**header, "rows": self.rows}) + "\n", "utf-8")
        partial.replace(self.path)  # readers never see half a file
        return self.path
