"""Loopback Solana servers for tests and the backfill benchmark: JSON-RPC over HTTP and a websocket.

They serve **recorded real** ``getTransaction`` results (the 0xjeffro fixtures), optionally
replicated under new signatures and slots so that paging and concurrency have volume to work
on, and inject faults on a deterministic schedule. Both listen on 127.0.0.1 only, run in a
background thread with their own event loop, and stop when their ``with`` block ends.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from engine.feeds.solana_tx import parse_transaction

_REPO = Path(__file__).resolve().parents[3]
FIXTURES = Path(os.environ.get("SHOAL_FIXTURES", _REPO.parent / "shared" / "fixtures")) / "0xjeffro-tx-parser"
ACCOUNT_FIXTURES = FIXTURES.parent / "sevenlabs-hq-carbon"
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
WATCHED = "Wat6hedAddre55111111111111111111111111111111"  # the address every served transaction "mentions"


def b58encode(raw: bytes) -> str:
    n = int.from_bytes(raw, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = _B58[r] + out
    return "1" * (len(raw) - len(raw.lstrip(b"\0"))) + out


def recorded_transactions() -> list[dict]:
    """Return the real fixture transactions (``result`` objects), broken files excluded, sorted by slot."""
    docs = []
    for path in sorted(FIXTURES.glob("*.json")):
        if path.name == "expected_values.json" or path.name.startswith("broken_"):
            continue
        docs.append(json.loads(path.read_text())[0])
    return sorted(docs, key=lambda d: d["slot"])


def replicate(docs: list[dict], n: int, *, first_slot: int = 300_000_000, first_time_s: int = 1_735_689_600,
              ) -> list[dict]:
    """Return ``n`` transactions cycling through ``docs``, each under a fresh signature and its own slot.

    Copy ``k`` gets slot ``first_slot + k`` and block time ``first_time_s + k // 3`` (400 ms slots);
    its signature is 64 bytes derived from ``k`` (base58), so every copy is a distinct transaction
    with the original's balances and instructions.
    """
    out = []
    for k in range(n):
        d = copy.deepcopy(docs[k % len(docs)])
        sig = b58encode(hashlib.sha512(f"shoal-test-{k}".encode()).digest())
        d["transaction"]["signatures"] = [sig, *d["transaction"]["signatures"][1:]]
        d["slot"] = first_slot + k
        d["blockTime"] = first_time_s + k * 2 // 5
        out.append(d)
    return out


def expected_swaps(docs: list[dict]) -> set[tuple]:
    """Return the set of swaps (signature, ix, owner, mints, amounts) the parser finds in ``docs``."""
    out = set()
    for d in docs:
        tx = parse_transaction(d)
        for ix, s in enumerate(tx.swaps):
            out.add((tx.signature, ix, s.amount_in, s.amount_out))
    return out


class Chain:
    """What the servers know: transactions by signature and one address's signature history."""

    def __init__(self, docs: list[dict]) -> None:
        self.docs = {d["transaction"]["signatures"][0]: d for d in docs}
        entries = [{"signature": s, "slot": d["slot"], "blockTime": d["blockTime"], "err": d["meta"]["err"],
                    "memo": None, "confirmationStatus": "finalized"} for s, d in self.docs.items()]
        self.history = sorted(entries, key=lambda e: (e["slot"], e["signature"]), reverse=True)  # newest first
        self.lock = threading.Lock()
        self.horizon: int | None = None  # when set, history stops at this slot (the websocket's "now")

    def add(self, docs: list[dict]) -> None:
        """Add transactions (new blocks arriving)."""
        with self.lock:
            for d in docs:
                sig = d["transaction"]["signatures"][0]
                self.docs[sig] = d
                self.history.append({"signature": sig, "slot": d["slot"], "blockTime": d["blockTime"],
                                     "err": d["meta"]["err"], "memo": None, "confirmationStatus": "finalized"})
            self.history.sort(key=lambda e: (e["slot"], e["signature"]), reverse=True)

    def signatures(self, opts: dict) -> list[dict]:
        limit = int(opts.get("limit", 1000))
        before, until = opts.get("before"), opts.get("until")
        with self.lock:
            hist = list(self.history)
        start = 0
        if before is not None:
            start = next((i + 1 for i, e in enumerate(hist) if e["signature"] == before), len(hist))
        out = []
        for e in hist[start:]:
            if e["signature"] == until or len(out) == limit:
                break
            if self.horizon is None or e["slot"] <= self.horizon:
                out.append(e)
        return out


@dataclass
class Faults:
    """Deterministic fault schedule of one HTTP endpoint (by request number, from 1).

    ``every_*`` = k makes every k-th request fail that way (0 = never). ``slow_s`` is how long a
    "timeout" request hangs before answering (longer than the client's timeout).
    """

    every_429: int = 0
    retry_after: str = "1"
    every_timeout: int = 0
    slow_s: float = 2.0
    every_drop: int = 0  # close the connection without answering
    every_500: int = 0
    every_garbage: int = 0  # 200 with a body that is not JSON
    null_first: set[str] = field(default_factory=set)  # getTransaction answers null once for these
    delay_s: float = 0.0  # added to every answer (network latency)


class RpcServer:
    """HTTP/1.1 JSON-RPC server on 127.0.0.1 serving a `Chain`, with `Faults`."""

    def __init__(self, chain: Chain, faults: Faults | None = None) -> None:
        self.chain = chain
        self.faults = faults or Faults()
        self.n_requests = 0
        self.methods: dict[str, int] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self.url = ""

    def __enter__(self) -> RpcServer:
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(asyncio.start_server(self._handle, "127.0.0.1", 0), self._loop)
        self._server = fut.result(5)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/"
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            self._server.close()
            for task in [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]:
                task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _answer(self, req: dict) -> dict:
        method, params = req.get("method"), req.get("params") or []
        self.methods[method] = self.methods.get(method, 0) + 1
        if method == "getSignaturesForAddress":
            result = self.chain.signatures(params[1] if len(params) > 1 else {})
        elif method == "getTransaction":
            sig = params[0]
            if sig in self.faults.null_first:
                self.faults.null_first.discard(sig)
                result = None
            else:
                result = self.chain.docs.get(sig)
        elif method == "getMultipleAccounts":
            result = {"context": {"slot": 1}, "value": [ACCOUNTS.get(k) for k in params[0]]}
        elif method == "getSlot":
            result = max((e["slot"] for e in self.chain.history), default=0)
        else:
            return {"jsonrpc": "2.0", "id": req.get("id"), "error": {"code": -32601, "message": "Method not found"}}
        return {"jsonrpc": "2.0", "id": req.get("id"), "result": result}

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                headers = {}
                for line in head.decode().split("\r\n")[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.n_requests += 1
                n, f = self.n_requests, self.faults
                if f.delay_s:
                    await asyncio.sleep(f.delay_s)
                if f.every_drop and n % f.every_drop == 0:
                    writer.close()
                    return
                if f.every_timeout and n % f.every_timeout == 0:
                    await asyncio.sleep(f.slow_s)
                if f.every_429 and n % f.every_429 == 0:
                    await _send(writer, 429, b'{"error":"too many requests"}', {"Retry-After": f.retry_after})
                    continue
                if f.every_500 and n % f.every_500 == 0:
                    await _send(writer, 503, b"service unavailable")
                    continue
                if f.every_garbage and n % f.every_garbage == 0:
                    await _send(writer, 200, b'{"jsonrpc":"2.0","res')
                    continue
                await _send(writer, 200, json.dumps(self._answer(json.loads(body))).encode())
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


async def _send(writer: asyncio.StreamWriter, status: int, body: bytes, headers: dict | None = None) -> None:
    reason = {200: "OK", 429: "Too Many Requests", 503: "Service Unavailable"}.get(status, "Error")
    lines = [f"HTTP/1.1 {status} {reason}", "Content-Type: application/json", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()


def dead_url() -> str:
    """Return an http URL on 127.0.0.1 where nothing listens (connections are refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/"


# ---------------------------------------------------------------------------------------------
# Accounts served by getMultipleAccounts and accountSubscribe.

def _account(rel: str) -> dict:
    raw = json.loads((ACCOUNT_FIXTURES / rel).read_text())
    return {"data": [raw["data"], "base64"], "executable": raw.get("executable", False),
            "lamports": raw.get("lamports", 0), "owner": raw["owner"], "rentEpoch": 0, "space": raw.get("space")}


WHIRLPOOL = "HJPjoWUrhoZzkNfRpHuieeFk9WcZWjwy6PBjZ81ngndJ"  # any address: the data does not name itself
ACCOUNTS: dict[str, dict] = {WHIRLPOOL: _account("orca-whirlpool/whirlpool_account.json")} \
    if ACCOUNT_FIXTURES.is_dir() else {}


# ---------------------------------------------------------------------------------------------
# Websocket server.


@dataclass
class WsScript:
    """What the websocket server sends, over all connections together.

    The chain's transactions (oldest first) are announced one slot each: a ``slotNotification``
    then a ``logsNotification``. ``skip`` are positions announced to nobody (a slot gap the
    client must notice and backfill); ``duplicate`` positions are announced twice;
    ``drop_after`` closes the connection after that many announcements (counting across
    connections: ``[5, 12]`` closes the first connection after 5 and the next after 12).
    """

    skip: set[int] = field(default_factory=set)
    duplicate: set[int] = field(default_factory=set)
    drop_after: list[int] = field(default_factory=list)
    account_updates: list[tuple[str, int]] = field(default_factory=list)  # (address, slot) sent after subscribing
    interval_s: float = 0.0
    n_subs: int = 2  # subscriptions a client makes before announcements start


class WsServer:
    """A Solana pubsub websocket on 127.0.0.1 announcing a `Chain`'s transactions per `WsScript`."""

    def __init__(self, chain: Chain, script: WsScript, *, on_connect: Callable[[int], None] | None = None) -> None:
        self.chain = chain
        self.script = script
        self.position = 0
        self.connections = 0
        self.subscriptions: list[str] = []
        self.on_connect = on_connect
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.url = ""

    def __enter__(self) -> WsServer:
        from websockets.asyncio.server import serve

        self._thread.start()

        async def start():
            return await serve(self._handle, "127.0.0.1", 0)

        self._server = asyncio.run_coroutine_threadsafe(start(), self._loop).result(5)
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/"
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            self._server.close()
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _handle(self, ws) -> None:
        self.connections += 1
        if self.on_connect is not None:
            self.on_connect(self.connections)
        subs: dict[str, int] = {}
        ready = asyncio.Event()

        async def read() -> None:  # answer subscriptions whenever they come
            async for raw in ws:
                req = json.loads(raw)
                method = req["method"]
                self.subscriptions.append(method)
                n = len(self.subscriptions)
                subs[method.removesuffix("Subscribe")] = n
                await ws.send(json.dumps({"jsonrpc": "2.0", "id": req["id"], "result": n}))
                if len(subs) >= self.script.n_subs:
                    ready.set()

        reader = asyncio.create_task(read())
        try:
            await asyncio.wait_for(ready.wait(), 5.0)
            for address, slot in self.script.account_updates:
                if "account" in subs:
                    await ws.send(json.dumps({"jsonrpc": "2.0", "method": "accountNotification", "params": {
                        "subscription": subs["account"], "result": {"context": {"slot": slot},
                                                                    "value": ACCOUNTS[address]}}}))
            history = sorted(self.chain.docs.values(), key=lambda d: d["slot"])
            if self.position > 0:
                self.chain.horizon = history[self.position - 1]["slot"]
            while self.position < len(history):
                k = self.position
                if self.script.drop_after and k >= self.script.drop_after[0]:
                    self.script.drop_after.pop(0)
                    await ws.close()
                    return
                self.position += 1
                if k in self.script.skip:
                    self.chain.horizon = history[k]["slot"]
                    continue
                d = history[k]
                sig, slot = d["transaction"]["signatures"][0], d["slot"]
                self.chain.horizon = slot
                for _ in range(2 if k in self.script.duplicate else 1):
                    if "slot" in subs:
                        await ws.send(json.dumps({"jsonrpc": "2.0", "method": "slotNotification", "params": {
                            "subscription": subs["slot"], "result": {"slot": slot, "parent": slot - 1,
                                                                     "root": slot - 32}}}))
                    if "logs" in subs:
                        await ws.send(json.dumps({"jsonrpc": "2.0", "method": "logsNotification", "params": {
                            "subscription": subs["logs"], "result": {"context": {"slot": slot}, "value": {
                                "signature": sig, "err": d["meta"]["err"],
                                "logs": d["meta"].get("logMessages") or []}}}}))
                if self.script.interval_s:
                    await asyncio.sleep(self.script.interval_s)
            await ws.wait_closed()
        except Exception:
            return
        finally:
            reader.cancel()
