"""Read the swap instructions of the real fixtures: accounts with their flags, and data bytes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from engine.feeds.solana_tx import b58decode

FIXTURES = Path(__file__).resolve().parents[5] / "shared" / "fixtures"
JEFFRO = FIXTURES / "0xjeffro-tx-parser"
CARBON = FIXTURES / "sevenlabs-hq-carbon"


@dataclass(frozen=True)
class FixtureIx:
    """One instruction as the fixture shows it; ``payer`` is the transaction's fee payer (None: carbon)."""

    source: str
    program: str
    data: bytes
    accounts: tuple[tuple[str, bool, bool], ...]  # (pubkey, is_signer, is_writable)
    others: frozenset[str]  # the fee payer and every account another top-level instruction names
    inner: bool = False  # a CPI: a router's PDA may sign it through invoke_signed


def transaction_instructions(path: Path) -> list[FixtureIx]:
    """Return every instruction (top level and inner) of a getTransaction fixture, with tx-level flags."""
    doc = json.loads(path.read_text())[0]
    msg, meta = doc["transaction"]["message"], doc["meta"]
    loaded = meta.get("loadedAddresses") or {"writable": [], "readonly": []}
    static = list(msg["accountKeys"])
    keys = static + loaded["writable"] + loaded["readonly"]
    h = msg["header"]
    n_sig, ro_sig = h["numRequiredSignatures"], h["numReadonlySignedAccounts"]
    ro_unsig = h["numReadonlyUnsignedAccounts"]

    def flags(i: int) -> tuple[bool, bool]:
        if i < n_sig:
            return True, i < n_sig - ro_sig
        if i < len(static):
            return False, i < len(static) - ro_unsig
        return False, i < len(static) + len(loaded["writable"])

    inner = {g["index"]: g["instructions"] for g in meta.get("innerInstructions") or []}
    top = msg["instructions"]
    out = []
    for t, ix in enumerate(top):
        others = frozenset([static[0]] + [keys[a] for u, o in enumerate(top) if u != t for a in o["accounts"]])
        for j, one in enumerate([ix, *inner.get(t, [])]):
            accounts = tuple((keys[a], *flags(a)) for a in one["accounts"])
            out.append(FixtureIx(f"{path.name}#{t}.{j}", keys[one["programIdIndex"]], b58decode(one["data"]),
                                 accounts, others, j > 0))
    return out


def carbon_instruction(path: Path) -> FixtureIx:
    """Return a carbon ``*_ix.json`` instruction.

    Its flags were copied from the transaction (merged over its instructions); the first signer
    is taken as the fee payer, the only account another instruction is known to name.
    """
    doc = json.loads(path.read_text())
    accounts = tuple((a["pubkey"], a["is_signer"], a["is_writable"]) for a in doc["accounts"])
    payer = next(k for k, signer, _ in accounts if signer)
    return FixtureIx(path.name, doc["program_id"], bytes.fromhex(doc["data"]), accounts, frozenset([payer]))


def all_transaction_instructions() -> list[FixtureIx]:
    """Return the instructions of every real transaction fixture (the broken ones left out)."""
    out = []
    for path in sorted(JEFFRO.glob("*.json")):
        if path.name.startswith("broken") or path.name == "expected_values.json":
            continue
        out += transaction_instructions(path)
    return out
