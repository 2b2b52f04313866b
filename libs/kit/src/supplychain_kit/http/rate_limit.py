"""Per-key rate limits: no caller can take a service's capacity for itself.

Each API key has a token bucket (RATE_LIMIT_PER_SECOND tokens a second, at most
RATE_LIMIT_BURST at once); a request takes one token, and a request that finds none is
answered 429 problem+json with `Retry-After` before anything else runs (no body read, no
database). A request without a known key (none, or one nobody holds) is counted against its
client address, so unknown keys cannot mint fresh buckets. Health and metrics are exempt:
probes and scrapes are not traffic. RATE_LIMIT_PER_SECOND=0 turns the limit off.

The buckets live in the process (a replica limits what reaches it); at most `MAX_CALLERS` are
kept, the least recently seen forgotten first (a forgotten bucket comes back full).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from supplychain_kit import metrics
from supplychain_kit.http.asgi import unobserved
from supplychain_kit.http.auth import identify_with
from supplychain_kit.http.inputs import send_problem

MAX_CALLERS = 10_000


@dataclass
class TokenBucket:
    """`rate` tokens a second up to `burst`; full when made."""

    rate: float
    burst: float
    tokens: float
    updated: float

    def take(self, now: float) -> float:
        """Take a token: 0.0 when there was one, else the seconds until there is."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class Buckets:
    """A token bucket per caller, at most `max_callers` of them."""

    def __init__(self, *, rate: float, burst: int, max_callers: int = MAX_CALLERS) -> None:
        self.rate = rate
        self.burst = burst
        self.max_callers = max_callers
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def take(self, caller: str, now: float) -> float:
        """A token of `caller`'s bucket: 0.0, or the seconds to wait for one."""
        bucket = self._buckets.get(caller)
        if bucket is None:
            bucket = TokenBucket(self.rate, self.burst, float(self.burst), now)
            self._buckets[caller] = bucket
            if len(self._buckets) > self.max_callers:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(caller)
        return bucket.take(now)


def caller_of(scope: Scope) -> str:
    """Whose bucket a request takes from: its key's holder, else its client address."""
    authorization = Headers(scope=scope).get("authorization", "")
    scheme, _, key = authorization.partition(" ")
    app: Any = scope.get("app")
    if scheme.lower() == "bearer" and key.strip() and app is not None:
        principal = identify_with(app.state.runtime.settings, key.strip())
        if principal is not None:
            return f"key:{principal.role}:{principal.department}:{principal.key_id}"
    client = scope.get("client")
    return f"address:{client[0] if client else 'unknown'}"


class RateLimit:
    """The per-key limit as pure ASGI middleware (see the module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        service: str,
        per_second: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.per_second = per_second
        self.burst = burst
        self.buckets = Buckets(rate=per_second, burst=burst)
        self.clock = clock
        self.limited = metrics.HTTP_RATE_LIMITED.labels(service=service)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.per_second <= 0 or unobserved(scope):
            await self.app(scope, receive, send)
            return
        wait = self.buckets.take(caller_of(scope), self.clock())
        if not wait:
            await self.app(scope, receive, send)
            return
        self.limited.inc()
        retry_after = max(1, math.ceil(wait))
        await send_problem(
            scope,
            send,
            429,
            f"Too many requests for this key: at most {self.per_second:g} a second "
            f"(bursts of {self.burst}); retry after {retry_after} s.",
            headers={"Retry-After": str(retry_after)},
            retry_after_s=retry_after,
        )
