"""What one trial used of its models: the frozen `ModelUsage` record and its meter.

The record crosses Ray boundaries (gateway actor -> trial actor -> outcome -> result row);
`to_dict()` gives its columns. The meter lives in the gateway's event loop and is updated by
one request at a time there, so it needs no lock.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from mleray.gateway.extract import TokenCount


@dataclass(frozen=True)
class ModelUsage:
    requests: int = 0  # forwarded to a provider (answered or failed)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    dollars: float | None = 0.0  # None once any answered request had no known price
    latency_seconds: float = 0.0  # provider time of the requests, summed (retry waits excluded)
    errors: int = 0  # forwarded requests that ended without an answer (after retries)
    refused: int = 0  # answered by the gateway itself: a model not given, a spent budget
    rate_limited: int = 0  # provider 429 answers, each retried unless out of retries
    retries: int = 0  # provider attempts repeated after a 429, a 5xx or a lost connection
    rate_limit_wait_seconds: float = 0.0  # backing off after the provider's 429s
    queue_wait_seconds: float = 0.0  # waiting for a share of the provider's concurrency
    unmetered: int = 0  # answered requests whose answer reported no token counts
    budget_exhausted: bool = False  # the trial used up its budget (later requests refused)
    models: tuple[str, ...] = ()  # the model names the trial called, sorted

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def latency_mean_seconds(self) -> float | None:
        return self.latency_seconds / self.requests if self.requests else None

    def to_dict(self) -> dict:
        """Flat columns: every field (models joined by commas) and the derived values."""
        row = asdict(self)
        row["models"] = ",".join(self.models)
        row["total_tokens"] = self.total_tokens
        row["latency_mean_seconds"] = self.latency_mean_seconds
        return row


class UsageMeter:
    """Accumulates one trial's `ModelUsage` (event-loop thread only)."""

    def __init__(self):
        self._usage = ModelUsage()

    def snapshot(self) -> ModelUsage:
        return self._usage

    def _update(self, **changes) -> None:
        self._usage = replace(self._usage, **changes)

    def _called(self, model: str) -> tuple[str, ...]:
        return tuple(sorted({*self._usage.models, model}))

    def answered(
        self, model: str, tokens: TokenCount | None, dollars: float | None, latency: float
    ) -> None:
        u = self._usage
        total = None if u.dollars is None or (tokens is not None and dollars is None) else u.dollars
        self._update(
            requests=u.requests + 1,
            prompt_tokens=u.prompt_tokens + (tokens.prompt if tokens else 0),
            completion_tokens=u.completion_tokens + (tokens.completion if tokens else 0),
            dollars=None if total is None else total + (dollars or 0.0),
            latency_seconds=u.latency_seconds + latency,
            unmetered=u.unmetered + (tokens is None),
            models=self._called(model),
        )

    def failed(self, model: str, latency: float) -> None:
        u = self._usage
        self._update(
            requests=u.requests + 1,
            errors=u.errors + 1,
            latency_seconds=u.latency_seconds + latency,
            models=self._called(model),
        )

    def refused(self) -> None:
        self._update(refused=self._usage.refused + 1)

    def exhausted(self) -> None:
        self._update(budget_exhausted=True)

    def retried(self, status: int | None, wait: float) -> None:
        """One provider attempt repeated after `status` (None: the connection failed)."""
        u = self._usage
        limited = status == 429
        self._update(
            retries=u.retries + 1,
            rate_limited=u.rate_limited + limited,
            rate_limit_wait_seconds=u.rate_limit_wait_seconds + (wait if limited else 0.0),
        )

    def rate_limited_final(self) -> None:
        """A 429 that was not retried (out of retries, or the provider's quota is spent)."""
        self._update(rate_limited=self._usage.rate_limited + 1)

    def queued(self, seconds: float) -> None:
        self._update(queue_wait_seconds=self._usage.queue_wait_seconds + seconds)
