"""Guards of the live venue: keypair file checks, send mode, caps, allow-lists, slippage, kill switch.

Every decision is a `GuardDecision` (allowed or not, which guard, the reason); the venue
journals each one and `GuardMetrics` counts them by guard and outcome. Order of checks: the
kill switch, then the program and mint allow-lists, the slippage bound, the per-order
notional cap and the per-day notional cap (UTC day of the decision).

**Keypair file.** `load_wallet` is the first thing a live session does. It refuses a file that
is not a regular file, that the group or others can read or write (``mode & 0o077``: the fix
is ``chmod 600``), or that is not Solana CLI's JSON array of 64 bytes. The key is held by a
`WalletKey`, whose ``repr``/``str`` show the public key only and which cannot be pickled or
copied into a journal; no error message quotes the file's content.

**Send mode.** Dry run unless ``--live`` was given and either ``SHOAL_LIVE=1`` is set or the
operator typed the wallet's public key as confirmation (`resolve_send_mode`).

**Kill switch.** A file (its existence stops new orders at once: checked before every order)
and an HTTP endpoint on 127.0.0.1 (`KillSwitchServer`: ``POST /kill`` engages, ``GET /kill``
reports). Engaging is one-way for a session; orders already sent still confirm.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from solders.keypair import Keypair
from solders.message import MessageV0
from solders.transaction import VersionedTransaction

from engine.errors import ConfigError, ShoalError
from engine.exec.live.tx import BPS

__all__ = [
    "GuardConfig",
    "GuardDecision",
    "GuardMetrics",
    "Guards",
    "KeypairFileError",
    "KillSwitch",
    "KillSwitchServer",
    "SendMode",
    "WalletKey",
    "load_wallet",
    "resolve_send_mode",
]

NS_PER_DAY = 86_400 * 10**9


class KeypairFileError(ShoalError):
    """The keypair file cannot be used; the message says why and never quotes its content."""


class WalletKey:
    """A signing key that never shows its secret: ``repr`` and ``str`` give the public key only."""

    __slots__ = ("_keypair", "pubkey")

    def __init__(self, keypair: Keypair) -> None:
        object.__setattr__(self, "_keypair", keypair)
        object.__setattr__(self, "pubkey", keypair.pubkey())

    def __setattr__(self, name: str, value: object) -> None:
        msg = "WalletKey is read-only"
        raise AttributeError(msg)

    def __repr__(self) -> str:
        return f"WalletKey(pubkey={self.pubkey})"

    __str__ = __repr__

    def __reduce__(self) -> object:
        msg = "WalletKey cannot be pickled or copied: the secret stays in this process"
        raise TypeError(msg)

    def sign(self, message: MessageV0) -> VersionedTransaction:
        """Return ``message`` signed by this key."""
        return VersionedTransaction(message, [self._keypair])


def load_wallet(path: str | os.PathLike) -> WalletKey:
    """Check and read a Solana CLI keypair file (JSON array of 64 bytes).

    Raises
    ------
    KeypairFileError
        Missing, not a regular file, readable or writable by group or others, or not a keypair.
    """
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        msg = f"keypair file {str(p)!r} does not exist; Hint: pass --keypair PATH (solana-keygen new -o PATH)"
        raise KeypairFileError(msg) from None
    if not stat.S_ISREG(st.st_mode):
        msg = f"keypair file {str(p)!r} is not a regular file"
        raise KeypairFileError(msg)
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        msg = (f"keypair file {str(p)!r} has mode {mode:04o}: the group or others can read or write it, so it is "
               f"refused; Hint: chmod 600 {p}")
        raise KeypairFileError(msg)
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
        ok = isinstance(raw, list) and len(raw) == 64 and all(type(b) is int and 0 <= b <= 255 for b in raw)
        keypair = Keypair.from_bytes(bytes(raw)) if ok else None
    except (ValueError, UnicodeDecodeError):  # the content is never quoted
        keypair = None
    if keypair is None:
        msg = (f"keypair file {str(p)!r} is not a Solana keypair (a JSON array of 64 integers 0..255); "
               "Hint: create one with solana-keygen")
        raise KeypairFileError(msg)
    return WalletKey(keypair)


class SendMode(Enum):
    DRY_RUN = "dry_run"  # build, simulate, journal; send nothing
    LIVE = "live"


def resolve_send_mode(*, live: bool, wallet: WalletKey, typed_confirmation: str | None = None,
                      environ: Mapping[str, str] | None = None) -> tuple[SendMode, str]:
    """Return the send mode and why: LIVE only with ``live`` plus ``SHOAL_LIVE=1`` or the typed wallet pubkey."""
    env = os.environ if environ is None else environ
    if not live:
        return SendMode.DRY_RUN, "dry run (the default); pass --live to send"
    if env.get("SHOAL_LIVE") == "1":
        return SendMode.LIVE, "live: --live and SHOAL_LIVE=1"
    if typed_confirmation is not None and typed_confirmation.strip() == str(wallet.pubkey):
        return SendMode.LIVE, "live: --live and the wallet's public key was typed"
    return SendMode.DRY_RUN, ("dry run: --live needs SHOAL_LIVE=1 or the wallet's public key typed as "
                              "confirmation; it was neither")


class KillSwitch:
    """Stops new orders when its file exists or it was engaged (HTTP endpoint, or in process)."""

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.path = None if path is None else Path(path)
        self._engaged_reason: str | None = None

    def engage(self, reason: str) -> None:
        if self._engaged_reason is None:
            self._engaged_reason = reason

    def reason(self) -> str | None:
        """Return why new orders are stopped, or None when they may go."""
        if self._engaged_reason is not None:
            return self._engaged_reason
        if self.path is not None and self.path.exists():
            return f"kill switch file {str(self.path)!r} exists"
        return None


class KillSwitchServer:
    """A tiny HTTP endpoint on 127.0.0.1: ``POST /kill`` engages the switch, ``GET /kill`` reports it."""

    def __init__(self, switch: KillSwitch, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.switch = switch
        self.host = host
        self.port = port
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> int:
        """Start serving; return the bound port."""
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5.0)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            writer.close()
            return
        method, target = [*head.split(b"\r\n", 1)[0].decode("latin-1").split(" "), "", ""][:2]
        if target.rstrip("/") != "/kill":
            status, body = "404 Not Found", {"error": "use /kill"}
        elif method == "POST":
            self.switch.engage("kill switch engaged over HTTP")
            status, body = "200 OK", {"engaged": True, "reason": self.switch.reason()}
        elif method == "GET":
            status, body = "200 OK", {"engaged": self.switch.reason() is not None, "reason": self.switch.reason()}
        else:
            status, body = "405 Method Not Allowed", {"error": "GET or POST"}
        data = json.dumps(body).encode()
        writer.write(f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {len(data)}\r\n"
                     "connection: close\r\n\r\n".encode() + data)
        await writer.drain()
        writer.close()


@dataclass(frozen=True, slots=True, kw_only=True)
class GuardConfig:
    """Limits every live order must pass.

    Parameters
    ----------
    max_order_notional_lamports : int
        Most lamports one order may risk (a buy's worst-case cost, a sell's expected proceeds).
    max_day_notional_lamports : int
        Most lamports all orders of one UTC day may risk together (sent orders count).
    max_slippage_bps : int
        Widest slippage bound an order may ask for, basis points.
    allowed_mints, allowed_programs : frozenset of str
        Mints an order may trade and programs a transaction may invoke; empty refuses all.
    kill_switch_path : path, optional
        The kill switch file.
    """

    max_order_notional_lamports: int
    max_day_notional_lamports: int
    max_slippage_bps: int
    allowed_mints: frozenset[str] = field(default_factory=frozenset)
    allowed_programs: frozenset[str] = field(default_factory=frozenset)
    kill_switch_path: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "allowed_mints", frozenset(self.allowed_mints))
        object.__setattr__(self, "allowed_programs", frozenset(self.allowed_programs))
        if not 0 < self.max_order_notional_lamports <= self.max_day_notional_lamports:
            msg = (f"need 0 < max_order_notional_lamports <= max_day_notional_lamports, were "
                   f"{self.max_order_notional_lamports:,} and {self.max_day_notional_lamports:,}")
            raise ConfigError(msg)
        if not 0 <= self.max_slippage_bps < BPS:
            msg = f"max_slippage_bps must be in [0, 9,999], was {self.max_slippage_bps!r}"
            raise ConfigError(msg)


@dataclass(frozen=True, slots=True)
class GuardDecision:
    allowed: bool
    guard: str
    reason: str


class GuardMetrics:
    """Counters of guard decisions (by guard and outcome) and of venue outcomes; Prometheus text on demand."""

    def __init__(self) -> None:
        self.decisions: Counter[tuple[str, str]] = Counter()
        self.events: Counter[str] = Counter()

    def count(self, decision: GuardDecision) -> None:
        self.decisions[(decision.guard, "allowed" if decision.allowed else "blocked")] += 1

    def to_dict(self) -> dict:
        return {"guard_decisions": {f"{g}:{o}": n for (g, o), n in sorted(self.decisions.items())},
                "events": dict(sorted(self.events.items()))}

    def prometheus(self) -> str:
        lines = ["# TYPE shoal_live_guard_decisions_total counter"]
        lines += [f'shoal_live_guard_decisions_total{{guard="{g}",outcome="{o}"}} {n}'
                  for (g, o), n in sorted(self.decisions.items())]
        lines.append("# TYPE shoal_live_events_total counter")
        lines += [f'shoal_live_events_total{{event="{e}"}} {n}' for e, n in sorted(self.events.items())]
        return "\n".join(lines) + "\n"


class Guards:
    """Checks orders against a `GuardConfig` and a `KillSwitch`; keeps the day's notional."""

    def __init__(self, cfg: GuardConfig, kill_switch: KillSwitch | None = None) -> None:
        self.cfg = cfg
        self.kill_switch = kill_switch if kill_switch is not None else KillSwitch(cfg.kill_switch_path)
        self._day = -1
        self.day_notional_lamports = 0

    def kill_reason(self) -> str | None:
        return self.kill_switch.reason()

    def check(self, *, mints: Iterable[str], programs: Iterable[str], slippage_bps: int, notional_lamports: int,
              ts_ns: int) -> list[GuardDecision]:
        """Return the decisions in order, stopping at the first refusal (the last one is then blocked)."""
        out: list[GuardDecision] = []

        def decide(ok: bool, guard: str, reason: str) -> bool:
            out.append(GuardDecision(ok, guard, reason))
            return ok

        kill = self.kill_reason()
        if not decide(kill is None, "kill_switch", kill or "not engaged"):
            return out
        bad_programs = sorted(set(programs) - self.cfg.allowed_programs)
        if not decide(not bad_programs, "program_allow_list",
                      f"programs not allowed: {bad_programs}" if bad_programs else "all programs allowed"):
            return out
        bad_mints = sorted(set(mints) - self.cfg.allowed_mints)
        if not decide(not bad_mints, "mint_allow_list",
                      f"mints not allowed: {bad_mints}" if bad_mints else "all mints allowed"):
            return out
        if not decide(slippage_bps <= self.cfg.max_slippage_bps, "max_slippage",
                      f"slippage {slippage_bps} bps vs max {self.cfg.max_slippage_bps} bps"):
            return out
        if not decide(notional_lamports <= self.cfg.max_order_notional_lamports, "order_notional_cap",
                      f"order notional {notional_lamports:,} vs cap {self.cfg.max_order_notional_lamports:,} lamports"):
            return out
        day = ts_ns // NS_PER_DAY
        if day != self._day:
            self._day, self.day_notional_lamports = day, 0
        after = self.day_notional_lamports + notional_lamports
        decide(after <= self.cfg.max_day_notional_lamports, "day_notional_cap",
               f"day notional would be {after:,} vs cap {self.cfg.max_day_notional_lamports:,} lamports")
        return out

    def commit(self, notional_lamports: int) -> None:
        """Count an order that is being sent against the day's cap."""
        self.day_notional_lamports += notional_lamports
