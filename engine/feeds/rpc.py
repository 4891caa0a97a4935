"""An async Solana JSON-RPC client that survives real endpoints: limits, retries, failover.

* **Bounded concurrency**: at most ``concurrency`` requests in flight (one semaphore).
* **Rate limit**: a token bucket of ``max_rps`` requests per second (``burst`` deep) shared
  by every endpoint: a conservative cap for providers that count per key, not per URL.
* **Retries** with exponential backoff and full jitter: attempt ``k`` waits a uniform draw in
  ``[0, min(backoff_max_ms, backoff_base_ms * 2**k)]``, or the server's ``Retry-After`` when it
  is longer. Retried: timeouts, refused or dropped connections, HTTP 429 and 5xx, JSON-RPC
  errors that mean "this node cannot answer now" (`RETRYABLE_RPC_CODES`), and malformed replies.
  Other JSON-RPC errors (bad params, say) raise at once: retrying cannot fix them.
* **Failover**: endpoints are tried round-robin; one that failed rests for its backoff (or its
  ``Retry-After``) while the others serve. The backoff grows with the endpoint's streak of
  consecutive failures, so a dead endpoint soon rests ``backoff_max_ms`` between probes.
  When every endpoint rests, the call waits for the
  first to be ready.
* **Timeouts** per request (``timeout_ms``).

Endpoint URLs may hold API keys, so they are kept out of ``repr`` and errors show host only.
Jitter draws come from ``numpy.random.default_rng([JITTER_STREAM, seed])``: a run is
reproducible given its seed and the server's answers.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np

from engine.errors import ConfigError, ShoalError

try:
    import orjson

    _loads = orjson.loads

    def _dumps(doc: Any) -> bytes:
        return orjson.dumps(doc)
except ImportError:  # pragma: no cover - depends on the environment
    import json

    _loads = json.loads

    def _dumps(doc: Any) -> bytes:
        return json.dumps(doc, separators=(",", ":")).encode()

__all__ = ["RETRYABLE_RPC_CODES", "RpcClient", "RpcConfig", "RpcError", "RpcStats", "host_of"]

JITTER_STREAM = 0x52504331  # "RPC1": the stream id of backoff jitter draws
# -32004 block not available, -32005 node unhealthy/behind, -32007 slot skipped or missing in long-term
# storage on this node, -32009 same, -32014 block status not yet available, -32016 min context slot not
# reached, -32603 internal error: another node (or the same one later) may answer.
RETRYABLE_RPC_CODES = frozenset({-32004, -32005, -32007, -32009, -32014, -32016, -32603})


class RpcError(ShoalError):
    """A JSON-RPC call failed for good (not retryable, or out of retries on every endpoint)."""

    def __init__(self, msg: str, *, code: int | None = None) -> None:
        super().__init__(msg)
        self.code = code


def host_of(url: str) -> str:
    """Return ``scheme://host[:port]`` of ``url``: what an error may show of an endpoint."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


@dataclass(frozen=True, slots=True, kw_only=True)
class RpcConfig:
    """How to talk to a set of JSON-RPC endpoints.

    Parameters
    ----------
    endpoints : tuple of str
        HTTP(S) URLs, tried in order and failed over round-robin (kept out of ``repr``).
    concurrency : int
        Most requests in flight at once.
    max_rps : float
        Requests per second across all endpoints (token bucket); ``inf`` for no limit.
    burst : int
        Bucket depth: requests that may go at once after a quiet spell.
    timeout_ms : int
        Per-request timeout (connect, read, write), in milliseconds.
    max_attempts : int
        Attempts per call, across endpoints, before `RpcError`.
    backoff_base_ms, backoff_max_ms : int
        Backoff of attempt ``k``: uniform in ``[0, min(max, base * 2**k)]`` ms.
    seed : int
        Seed of the jitter draws.
    """

    endpoints: tuple[str, ...] = field(repr=False)
    concurrency: int = 8
    max_rps: float = 40.0
    burst: int = 10
    timeout_ms: int = 10_000
    max_attempts: int = 8
    backoff_base_ms: int = 200
    backoff_max_ms: int = 10_000
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.endpoints, str):
            object.__setattr__(self, "endpoints", (self.endpoints,))
        object.__setattr__(self, "endpoints", tuple(self.endpoints))
        if not self.endpoints:
            msg = "no RPC endpoint was given; Hint: pass --rpc URL (repeat it to fail over) or set $SHOAL_RPC"
            raise ConfigError(msg)
        for url in self.endpoints:
            if urlsplit(url).scheme not in ("http", "https"):
                msg = f"RPC endpoint {host_of(url)!r} is not an http(s) URL; Hint: use https://host/..."
                raise ConfigError(msg)
        if self.concurrency < 1:
            msg = f"concurrency must be >= 1, was {self.concurrency}"
            raise ConfigError(msg)
        if not self.max_rps > 0:  # NaN fails too
            msg = f"max_rps must be > 0 (inf for no limit), was {self.max_rps!r}"
            raise ConfigError(msg)
        if self.burst < 1 or self.max_attempts < 1:
            msg = f"burst and max_attempts must be >= 1, were {self.burst} and {self.max_attempts}"
            raise ConfigError(msg)
        if self.timeout_ms <= 0 or self.backoff_base_ms < 0 or self.backoff_max_ms < self.backoff_base_ms:
            msg = (f"need timeout_ms > 0 and 0 <= backoff_base_ms <= backoff_max_ms, were {self.timeout_ms}, "
                   f"{self.backoff_base_ms}, {self.backoff_max_ms}")
            raise ConfigError(msg)


@dataclass(slots=True)
class RpcStats:
    """Counters of one client: requests sent, retries and why, failovers."""

    calls: int = 0
    requests: int = 0
    retries: int = 0
    failovers: int = 0
    rate_limited: int = 0  # HTTP 429 answers
    timeouts: int = 0
    errors: Counter = field(default_factory=Counter)  # retry causes by kind

    def to_dict(self) -> dict:
        return {"calls": self.calls, "requests": self.requests, "retries": self.retries, "failovers": self.failovers,
                "rate_limited": self.rate_limited, "timeouts": self.timeouts, "errors": dict(self.errors)}


class _TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved; `take` waits for one."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.t = time.monotonic()
        self.lock = asyncio.Lock()

    async def take(self) -> None:
        if self.rate == float("inf"):
            return
        async with self.lock:  # waiters queue in order, each takes the next token
            while True:
                now = time.monotonic()
                self.tokens = min(self.burst, self.tokens + (now - self.t) * self.rate)
                self.t = now
                if self.tokens >= 1.0:
                    self.tokens -= 1.0
                    return
                await asyncio.sleep((1.0 - self.tokens) / self.rate)


class _Retry(Exception):
    """One attempt failed in a way another attempt may not."""

    def __init__(self, *, kind: str, detail: str, retry_after_s: float | None = None) -> None:
        super().__init__(detail)
        self.kind = kind
        self.retry_after_s = retry_after_s


def _retry_after_s(value: str | None) -> float | None:
    """Parse a ``Retry-After`` header (seconds or an HTTP date) into seconds from now."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class RpcClient:
    """Async JSON-RPC client over `RpcConfig` endpoints; use as ``async with RpcClient(cfg) as rpc``."""

    def __init__(self, cfg: RpcConfig) -> None:
        self.cfg = cfg
        self.stats = RpcStats()
        self._rng = np.random.default_rng([JITTER_STREAM, cfg.seed])
        self._sem = asyncio.Semaphore(cfg.concurrency)
        self._bucket = _TokenBucket(cfg.max_rps, cfg.burst)
        self._ready_at = [0.0] * len(cfg.endpoints)  # monotonic time each endpoint may be used again
        self._streak = [0] * len(cfg.endpoints)  # consecutive failures per endpoint: a dead one rests longer
        self._next = 0
        self._id = 0
        self._http: httpx.AsyncClient | None = None

    async def __aenter__(self) -> RpcClient:
        t = self.cfg.timeout_ms / 1000
        limits = httpx.Limits(max_connections=self.cfg.concurrency, max_keepalive_connections=self.cfg.concurrency)
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(t), limits=limits,
                                       headers={"content-type": "application/json"})
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def _backoff_s(self, attempt: int) -> float:
        cap = min(self.cfg.backoff_max_ms, self.cfg.backoff_base_ms * 2.0**attempt) / 1000
        return float(self._rng.uniform(0.0, cap)) if cap > 0 else 0.0

    def _pick(self) -> tuple[int, float]:
        """Return the next endpoint in turn that is ready, else the one ready first, and its wait (s)."""
        now = time.monotonic()
        n = len(self._ready_at)
        for k in range(n):
            i = (self._next + k) % n
            if self._ready_at[i] <= now:
                self._next = (i + 1) % n
                return i, 0.0
        i = min(range(n), key=self._ready_at.__getitem__)
        self._next = (i + 1) % n
        return i, self._ready_at[i] - now

    async def call(self, method: str, params: list | None = None) -> Any:
        """Return the ``result`` of one JSON-RPC call, retrying and failing over as configured.

        Raises
        ------
        RpcError
            A non-retryable JSON-RPC error, or every attempt failed.
        """
        if self._http is None:
            msg = "RpcClient is not open; Hint: use `async with RpcClient(cfg) as rpc:`"
            raise RuntimeError(msg)
        self.stats.calls += 1
        last = ""
        prev = -1
        for attempt in range(self.cfg.max_attempts):
            i, wait_s = self._pick()
            if wait_s > 0:
                await asyncio.sleep(wait_s)
            if prev >= 0 and i != prev:
                self.stats.failovers += 1
            prev = i
            try:
                result = await self._attempt(self.cfg.endpoints[i], method, params)
            except _Retry as e:
                self.stats.retries += 1
                self.stats.errors[e.kind] += 1
                last = f"{e.kind} from {host_of(self.cfg.endpoints[i])}: {e}"
                self._streak[i] += 1
                rest = self._backoff_s(max(attempt, self._streak[i] - 1))
                if e.retry_after_s is not None:
                    rest = max(rest, e.retry_after_s)
                self._ready_at[i] = max(self._ready_at[i], time.monotonic() + rest)
            else:
                self._streak[i] = 0
                return result
        msg = (f"{method} failed after {self.cfg.max_attempts} attempts over {len(self.cfg.endpoints)} endpoint(s); "
               f"last: {last}. Hint: check the endpoints, add another with --rpc, or lower --rps/--concurrency")
        raise RpcError(msg)

    async def _attempt(self, url: str, method: str, params: list | None) -> Any:
        self._id += 1
        body = _dumps({"jsonrpc": "2.0", "id": self._id, "method": method, "params": params or []})
        await self._bucket.take()
        async with self._sem:
            self.stats.requests += 1
            try:
                resp = await self._http.post(url, content=body)
            except httpx.TimeoutException as e:
                self.stats.timeouts += 1
                raise _Retry(kind="timeout", detail=type(e).__name__) from e
            except httpx.TransportError as e:  # refused, reset, dropped mid-reply
                raise _Retry(kind="transport", detail=f"{type(e).__name__}: {e}") from e
        if resp.status_code == 429:
            self.stats.rate_limited += 1
            raise _Retry(kind="http_429", detail="rate limited",
                         retry_after_s=_retry_after_s(resp.headers.get("retry-after")))
        if resp.status_code >= 500:
            raise _Retry(kind=f"http_{resp.status_code}", detail=resp.text[:200],
                         retry_after_s=_retry_after_s(resp.headers.get("retry-after")))
        if resp.status_code != 200:
            msg = f"{method}: HTTP {resp.status_code} from {host_of(url)}: {resp.text[:200]}"
            raise RpcError(msg)
        try:
            doc = _loads(resp.content)
        except ValueError as e:
            raise _Retry(kind="bad_json", detail=f"reply is not JSON ({e})") from e
        if not isinstance(doc, dict):
            raise _Retry(kind="bad_json", detail=f"reply is {type(doc).__name__}, not a JSON-RPC object")
        err = doc.get("error")
        if err is not None:
            code = err.get("code") if isinstance(err, dict) else None
            text = err.get("message", err) if isinstance(err, dict) else err
            if code in RETRYABLE_RPC_CODES:
                raise _Retry(kind=f"rpc_{code}", detail=str(text)[:200])
            msg = f"{method} was refused by {host_of(url)}: JSON-RPC error {code}: {str(text)[:300]}"
            raise RpcError(msg, code=code)
        if "result" not in doc:
            raise _Retry(kind="bad_json", detail="reply has neither result nor error")
        return doc["result"]

    async def call_until_found(self, method: str, params: list, *, tries: int | None = None) -> Any:
        """Like `call`, but a ``null`` result (a node that lacks the item yet) is retried on other endpoints.

        Returns None when every one of ``tries`` calls (default: one per endpoint, at least 2) said null.
        """
        n = tries if tries is not None else max(2, len(self.cfg.endpoints))
        for k in range(n):
            result = await self.call(method, params)
            if result is not None:
                return result
            self.stats.errors["null_result"] += 1
            if k + 1 < n:
                await asyncio.sleep(self._backoff_s(k))
        return None
