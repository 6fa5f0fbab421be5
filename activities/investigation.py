"""The adapter for the third-party investigation firm.

The firm takes a case (records, hospital checks, home visit, prior history against the
health declaration) and reports its findings weeks later: commissioning is an activity, the
findings come back through the claim's `record_findings` update. The firm here is simulated,
with a configurable latency and failure rate for tests and demos: an unanswered call is a
transient error (Temporal retries it with backoff); a case the firm declines is a business
refusal (not retried; the claim then waits for findings recorded by hand).
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field

from temporalio import activity

from activities.failures import refused
from messages import claims as msg


class FirmUnavailableError(Exception):
    """The firm did not answer: worth another try."""


class FirmDeclinedError(Exception):
    """The firm will not take the case: retrying cannot change that."""


@dataclass(slots=True, kw_only=True)
class SimulatedFirm:
    """latency_s per call; failure_rate in [0, 1] of calls go unanswered; cases at
    `declined_hospitals` (outside its service area) are declined. Seeded: a run repeats."""

    latency_s: float = 0.0
    failure_rate: float = 0.0
    declined_hospitals: frozenset[str] = frozenset()
    seed: int = 0
    calls: int = 0
    _random: random.Random = field(init=False)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if not 0 <= self.failure_rate <= 1:
            raise ValueError(f"failure_rate must be between 0 and 1, not {self.failure_rate}")
        if self.latency_s < 0:
            raise ValueError(f"latency_s must not be negative, not {self.latency_s}")
        self._random = random.Random(self.seed)

    def take_case(self, request: msg.CommissionRequest) -> str:
        """The firm's reference for the case, the same on every call for the same round."""
        with self._lock:
            self.calls += 1
            unanswered = self._random.random() < self.failure_rate
        time.sleep(self.latency_s)
        if unanswered:
            raise FirmUnavailableError("the investigation firm did not answer")
        if request.hospital.strip().lower() in self.declined_hospitals:
            raise FirmDeclinedError(f"hospital {request.hospital!r} is outside the firm's area")
        return f"inv-{request.claim_id}-{request.round}"


class InvestigationActivities:
    def __init__(self, firm: SimulatedFirm) -> None:
        self._firm = firm

    @activity.defn(name=msg.COMMISSION_INVESTIGATION)
    def commission(self, request: msg.CommissionRequest) -> msg.Commission:
        try:
            reference = self._firm.take_case(request)
        except FirmDeclinedError as exc:
            raise refused(str(exc), kind="FirmDeclined") from exc
        # FirmUnavailableError propagates: Temporal retries it with the workflow's backoff.
        return msg.Commission(reference=reference)
