"""The send path: ``sendTransaction`` to every endpoint at once, over kept-alive connections.

A signed transaction is sent with ``skipPreflight`` and ``maxRetries=0``; the `Confirmer`
re-sends it on schedule until it lands or its blockhash expires. So one send needs no retry,
backoff or failover of its own (`engine.feeds.rpc.RpcClient` does those for reads): it needs to
reach the leaders fast, and reaching them through several endpoints at once lands more often.
`TxSender` posts each transaction to every endpoint concurrently and succeeds when one accepts.

It uses aiohttp rather than the read client's httpx: on the loopback benchmark httpx falls from
~550 to ~110 sends/s as concurrency grows from 4 to 64 (its connection pool serialises
requests), where aiohttp keeps ~1,200/s (`benchmarks/bench_live.py`). Endpoint URLs may hold
API keys: errors name the host only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import aiohttp
import orjson

from engine.errors import ConfigError, ShoalError
from engine.feeds.rpc import host_of

__all__ = ["SendError", "TxSender"]


class SendError(ShoalError):
    """No endpoint accepted a transaction; the message lists each host's answer."""


class TxSender:
    """Send signed transactions to every endpoint; use as ``async with TxSender(urls) as sender``.

    Parameters
    ----------
    endpoints : sequence of str
        HTTP(S) JSON-RPC URLs.
    timeout_ms : int
        Per request.
    concurrency : int
        Most requests in flight per endpoint.
    """

    def __init__(self, endpoints: Sequence[str], *, timeout_ms: int = 2_000, concurrency: int = 64) -> None:
        if not endpoints:
            msg = "no endpoint to send transactions to; Hint: pass --rpc URL"
            raise ConfigError(msg)
        self.endpoints = tuple(endpoints)
        self.timeout_ms = timeout_ms
        self.concurrency = concurrency
        self.n_sent = 0
        self._http: aiohttp.ClientSession | None = None
        self._id = 0

    def __repr__(self) -> str:
        return f"TxSender(hosts={[host_of(u) for u in self.endpoints]})"

    async def __aenter__(self) -> TxSender:
        connector = aiohttp.TCPConnector(limit_per_host=self.concurrency, ttl_dns_cache=300)
        self._http = aiohttp.ClientSession(connector=connector,
                                           timeout=aiohttp.ClientTimeout(total=self.timeout_ms / 1000),
                                           headers={"content-type": "application/json"})
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def send(self, raw_b64: str) -> str:
        """Post one base64 transaction to every endpoint; return the signature the first acceptor gave.

        Raises
        ------
        SendError
            Every endpoint refused it or could not be reached.
        """
        if self._http is None:
            msg = "TxSender is not open; Hint: use `async with TxSender(urls) as sender:`"
            raise RuntimeError(msg)
        self._id += 1
        body = orjson.dumps({"jsonrpc": "2.0", "id": self._id, "method": "sendTransaction",
                       "params": [raw_b64, {"encoding": "base64", "skipPreflight": True, "maxRetries": 0}]})
        if len(self.endpoints) == 1:  # no task per send when there is nothing to fan out
            answers = [await self._post(self.endpoints[0], body)]
        else:
            answers = await asyncio.gather(*(self._post(url, body) for url in self.endpoints))
        self.n_sent += 1
        for ok, text in answers:
            if ok:
                return text
        msg = "sendTransaction failed on every endpoint: " + "; ".join(text for _, text in answers)
        raise SendError(msg)

    async def _post(self, url: str, body: bytes) -> tuple[bool, str]:
        host = host_of(url)
        try:
            async with self._http.post(url, data=body) as resp:
                content = await resp.read()
                if resp.status != 200:
                    return False, f"{host}: HTTP {resp.status}"
            doc = orjson.loads(content)
        except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError) as e:
            return False, f"{host}: {type(e).__name__}"
        if not isinstance(doc, dict) or "result" not in doc:
            err = doc.get("error") if isinstance(doc, dict) else doc
            return False, f"{host}: {str(err)[:200]}"
        return True, str(doc["result"])
