"""Confirm every order in flight with one poll loop: statuses in batches, resends on schedule.

A sent transaction is confirmed by ``getSignatureStatuses``; with ``maxRetries=0`` the sender
re-sends the **same signed bytes** every ``resend_interval_ms`` until the signature shows up or
its blockhash expires (block height past ``lastValidBlockHeight``), as Solana's "Retrying
transactions" guide prescribes. The same bytes can land at most once, so a re-send never doubles
an order; an expired order is reported, never rebuilt.

One order at a time would poll its own signature and the block height every
``poll_interval_ms``: with 64 orders in flight that is 128 calls per interval. `Confirmer` asks
once per interval for up to 256 signatures at a time and for the block height once, so the RPC
load grows with the number of batches, not of orders. An expired signature gets one last look
with ``searchTransactionHistory`` (it may have landed just before expiry).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum

from engine.errors import ShoalError
from engine.feeds.rpc import RpcClient, RpcError

__all__ = ["Confirmation", "Confirmer"]

MAX_SIGNATURES_PER_CALL = 256  # getSignatureStatuses accepts at most 256 signatures


class Confirmation(Enum):
    LANDED = "landed"  # confirmed, successfully or not: fetch it
    EXPIRED = "expired"  # the blockhash expired and it never landed: nothing paid
    UNKNOWN = "unknown"  # the RPC could not tell within the time bound


@dataclass(slots=True)
class _InFlight:
    order_id: int
    signature: str
    raw_b64: str
    last_valid_block_height: int
    started: float
    last_send: float
    n_sends: int
    done: asyncio.Future


class Confirmer:
    """Send and confirm signed transactions; `confirm` resolves when its signature lands or expires.

    Parameters
    ----------
    rpc : RpcClient
        For statuses and block heights (and sends, without ``send``).
    send : callable, optional
        ``await send(raw_b64)`` posts one transaction (`engine.exec.live.sender.TxSender.send`),
        raising `ShoalError` when it could not; default: ``sendTransaction`` through ``rpc``.
    poll_interval_ms, resend_interval_ms, max_confirm_ms : int
        Between two status polls; between two sends of one transaction; most time one order waits.
    commitment : str
    on_event : callable, optional
        ``on_event(kind, order_id, signature, **detail)`` for ``resend`` and ``rpc_error``.
    """

    def __init__(self, rpc: RpcClient, *, poll_interval_ms: int, resend_interval_ms: int, max_confirm_ms: int,
                 commitment: str, send: Callable[[str], Awaitable[object]] | None = None,
                 on_event: Callable[..., None] | None = None) -> None:
        self.rpc = rpc
        self.send = send if send is not None else self._send_via_rpc
        self.poll_s = poll_interval_ms / 1000
        self.resend_s = resend_interval_ms / 1000
        self.max_s = max_confirm_ms / 1000
        self.commitment = commitment
        self.on_event = on_event or (lambda *a, **k: None)
        self._pending: dict[str, _InFlight] = {}
        self._loop: asyncio.Task | None = None

    async def confirm(self, order_id: int, raw_b64: str, signature: str, last_valid_block_height: int) -> Confirmation:
        """Send ``raw_b64`` now, then wait for the poll loop to see it land, expire, or time out."""
        now = time.monotonic()
        item = _InFlight(order_id, signature, raw_b64, last_valid_block_height, now, -1e9, 0,
                         asyncio.get_running_loop().create_future())
        self._pending[signature] = item
        await self._send(item)
        if self._loop is None or self._loop.done():
            self._loop = asyncio.create_task(self._poll_loop())
        return await item.done

    async def _send(self, item: _InFlight) -> None:
        item.last_send = time.monotonic()
        item.n_sends += 1
        if item.n_sends > 1:
            self.on_event("resend", item.order_id, item.signature, n_sends=item.n_sends)
        try:
            await self.send(item.raw_b64)
        except ShoalError as e:  # the resend schedule tries again
            self.on_event("rpc_error", item.order_id, item.signature, reason=str(e))

    async def _send_via_rpc(self, raw_b64: str) -> object:
        return await self.rpc.call("sendTransaction", [raw_b64, {"encoding": "base64", "skipPreflight": True,
                                                                 "maxRetries": 0}])

    def _resolve(self, item: _InFlight, outcome: Confirmation) -> None:
        self._pending.pop(item.signature, None)
        if not item.done.done():
            item.done.set_result(outcome)

    async def _poll_loop(self) -> None:
        while self._pending:
            await asyncio.sleep(self.poll_s)
            items = list(self._pending.values())
            try:
                landed, height = await self._poll(items)
            except RpcError as e:  # they may have landed: keep asking within the time bound
                for item in items:
                    self.on_event("rpc_error", item.order_id, item.signature, reason=str(e))
                landed, height = set(), None
            now = time.monotonic()
            expired = []
            resend = []
            for item in items:
                if item.signature in landed:
                    self._resolve(item, Confirmation.LANDED)
                elif height is not None and height > item.last_valid_block_height:
                    expired.append(item)
                elif now - item.started > self.max_s:
                    self._resolve(item, Confirmation.UNKNOWN)
                elif now - item.last_send >= self.resend_s:
                    resend.append(item)
            if expired:
                await self._last_look(expired)
            if resend:
                await asyncio.gather(*(self._send(item) for item in resend))

    async def _poll(self, items: list[_InFlight]) -> tuple[set[str], int]:
        sigs = [item.signature for item in items]
        batches = [sigs[k:k + MAX_SIGNATURES_PER_CALL] for k in range(0, len(sigs), MAX_SIGNATURES_PER_CALL)]
        answers = await asyncio.gather(
            self.rpc.call("getBlockHeight", [{"commitment": self.commitment}]),
            *(self.rpc.call("getSignatureStatuses", [batch]) for batch in batches))
        landed = set()
        for batch, answer in zip(batches, answers[1:], strict=True):
            for sig, st in zip(batch, answer["value"], strict=True):
                if st is not None and (st.get("err") is not None
                                       or st.get("confirmationStatus") in ("confirmed", "finalized")):
                    landed.add(sig)
        return landed, int(answers[0])

    async def _last_look(self, items: list[_InFlight]) -> None:
        """Expired blockhashes: a signature seen now landed before expiry; one never seen never will."""
        sigs = [item.signature for item in items]
        try:
            answers = await asyncio.gather(*(self.rpc.call("getSignatureStatuses",
                                                            [sigs[k:k + MAX_SIGNATURES_PER_CALL],
                                                             {"searchTransactionHistory": True}])
                                              for k in range(0, len(sigs), MAX_SIGNATURES_PER_CALL)))
        except RpcError as e:
            for item in items:
                self.on_event("rpc_error", item.order_id, item.signature, reason=str(e))
            return  # asked again at the next poll
        found = [st for answer in answers for st in answer["value"]]
        for item, st in zip(items, found, strict=True):
            self._resolve(item, Confirmation.LANDED if st is not None else Confirmation.EXPIRED)
