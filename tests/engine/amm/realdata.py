"""Readers for the real fixtures in ``/work/shared/fixtures`` used by the amm tests (no network)."""

from __future__ import annotations

import base64
import json
import struct
from pathlib import Path
from typing import Any, NamedTuple

FIXTURES = Path(__file__).resolve().parents[4] / "shared" / "fixtures"
TX_DIR = FIXTURES / "0xjeffro-tx-parser"
CARBON_DIR = FIXTURES / "sevenlabs-hq-carbon"

PUMP_PROGRAM = "6EF8rrecthR5Dkzon8Nwu78hRvfCKubJ14M5uBEwF6P"
RAYDIUM_AMM_V4 = "675kPX9MHTjS2zt1qfr1NYHuzeLXfQM9H24wFSUt1Mp8"
RAYDIUM_CPMM = "CPMMoo8L3F4NbTegBCKVNunggL7H1ZpdTHKxQB5qKP1C"


def load_tx(name: str) -> dict[str, Any]:
    """Return the ``getTransaction`` result stored in ``0xjeffro-tx-parser/<name>``."""
    return json.loads((TX_DIR / name).read_text())[0]


def account_keys(tx: dict[str, Any]) -> list[str]:
    """Return static keys followed by lookup-table keys (writable, then readonly)."""
    keys = list(tx["transaction"]["message"]["accountKeys"])
    loaded = tx["meta"].get("loadedAddresses") or {}
    return keys + loaded.get("writable", []) + loaded.get("readonly", [])


def instructions_of(tx: dict[str, Any], program: str) -> list[list[int]]:
    """Return the account-index lists of every top-level and inner instruction of ``program``."""
    keys = account_keys(tx)
    ixs = list(tx["transaction"]["message"]["instructions"])
    for inner in tx["meta"].get("innerInstructions") or []:
        ixs += inner["instructions"]
    return [ix["accounts"] for ix in ixs if keys[ix["programIdIndex"]] == program]


def token_balances(tx: dict[str, Any]) -> tuple[dict[int, int], dict[int, int]]:
    """Return ``(pre, post)`` token balances in base units keyed by account index."""
    def read(rows: list[dict[str, Any]]) -> dict[int, int]:
        return {r["accountIndex"]: int(r["uiTokenAmount"]["amount"]) for r in rows}
    return read(tx["meta"]["preTokenBalances"]), read(tx["meta"]["postTokenBalances"])


class PumpTrade(NamedTuple):
    """A Pump.fun ``TradeEvent`` (Anchor event in the ``Program data:`` log)."""

    sol_amount: int
    token_amount: int
    is_buy: bool
    virtual_sol_after: int
    virtual_token_after: int


def pump_trades(tx: dict[str, Any]) -> list[PumpTrade]:
    """Decode the 129-byte TradeEvents: disc(8) mint(32) sol u64 token u64 is_buy(1) user(32) ts i64 vs u64 vt u64."""
    out = []
    for line in tx["meta"]["logMessages"]:
        if not line.startswith("Program data: "):
            continue
        raw = base64.b64decode(line[len("Program data: "):])
        if len(raw) != 129:  # the CreateEvent and others
            continue
        sol, tok = struct.unpack_from("<QQ", raw, 40)
        is_buy = raw[56] == 1
        vs, vt = struct.unpack_from("<QQ", raw, 97)
        out.append(PumpTrade(sol, tok, is_buy, vs, vt))
    return out


def carbon_account(path: str) -> bytes:
    """Return the raw data of a carbon account fixture (``<decoder>/<file>.json``)."""
    return base64.b64decode(json.loads((CARBON_DIR / path).read_text())["data"])


def carbon_json(path: str) -> dict[str, Any]:
    """Return a carbon fixture as JSON."""
    return json.loads((CARBON_DIR / path).read_text())
