"""Tests of `engine.feeds.solana_tx` on real mainnet transactions.

Fixtures: ``shared/fixtures/0xjeffro-tx-parser`` (getTransaction JSON from github.com/0xjeffro/tx-parser at
commit 475b1eb, MPL-2.0, read-only). Where each expected number comes from:

* the fee payer's swap (mint in/out, amounts, signer): the table "The swap seen from the fee payer's balances"
  in that folder's README.md, read at test time (steering's reference script, from balances only);
* hop amounts and the other bundle buyers: ``expected_values.json``, the source's own assertions
  (``solana/parser_test.go``), reconciled in the README ("delta minus source");
* DEX names: the README's "what" and "programs invoked" columns.

The jsonParsed, failed, RPC-envelope and corrupted variants are built by this file from the json fixtures
(the conversions are ours; no such fixture exists).
"""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from solders.pubkey import Pubkey

from engine.feeds.programs import ROUTERS, VENUES
from engine.feeds.solana_tx import (
    WSOL_MINT,
    ParsedTx,
    TxParseError,
    b58decode,
    parse_documents,
    parse_transaction,
    parse_transaction_bytes,
)

_REPO = Path(__file__).resolve().parents[3]
FIXTURES = Path(os.environ.get("SHOAL_FIXTURES", _REPO.parent / "shared" / "fixtures"))
TX_DIR = FIXTURES / "0xjeffro-tx-parser"
if not TX_DIR.is_dir():  # pragma: no cover - the CI checkout has shared/ beside the repo
    pytest.skip(f"fixtures not found at {TX_DIR}; set SHOAL_FIXTURES", allow_module_level=True)

TX_FILES = sorted(p.name for p in TX_DIR.glob("*.json") if p.name not in ("expected_values.json",))
GOOD_FILES = [f for f in TX_FILES if not f.startswith("broken_")]
EXPECTED = json.loads((TX_DIR / "expected_values.json").read_text())["fixtures"]


def _raw(name: str) -> bytes:
    return (TX_DIR / name).read_bytes()


def _doc(name: str) -> dict:
    return json.loads(_raw(name))[0]  # each fixture is an array of one getTransaction result


def _readme_rows() -> dict[str, dict[str, str]]:
    """Parse the README table of fee-payer swaps: file -> {signature, slot, signer, programs, mint_in, ...}."""
    text = (TX_DIR / "README.md").read_text()
    section = text.split("## The swap seen from the fee payer's balances", 1)[1].split("\n## ", 1)[0]
    rows = {}
    cols = ["file", "signature", "slot", "signer", "programs", "mint_in", "amount_in", "mint_out", "amount_out"]
    for line in section.splitlines():
        if not line.startswith("| ") or line.startswith("| file") or line.startswith("| ---"):
            continue
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        rows[cells[0]] = dict(zip(cols, cells, strict=False)) | {"programs_text": cells[4]}
    return rows


README_ROWS = _readme_rows()
SWAP_ROWS = {f: r for f, r in README_ROWS.items() if r["mint_in"] != "-" and r["mint_out"] != "-"}
NO_SWAP_ROWS = {f: r for f, r in README_ROWS.items() if f not in SWAP_ROWS}

# Venue and router per fixture, from the README's "what" column (e.g. "OKX router `Swap` ... through Raydium CPMM
# and Raydium CLMM" -> venues raydium_cpmm, raydium_clmm; router okx_router).
EXPECTED_DEX = {
    "OKXDEX_commissionSplProxySwap.json": ("raydium_amm_v4", "okx_router"),
    "OKXDEX_swap_0.json": ("raydium_cpmm", "okx_router"),
    "OKXDEX_swap_2.json": ("raydium_amm_v4", "okx_router"),
    "jupiterAggregatorV6_Route_1.json": ("raydium_amm_v4", "jupiter_v6"),
    "jupiterAggregatorV6_sharedAccountsRoute_1.json": ("meteora_dlmm", "jupiter_v6"),
    "jupiterDca_CloseDca_0.json": (None, "jupiter_dca"),
    "jupiterDca_endAndClose_0.json": (None, "jupiter_dca"),
    "jupiterDca_openDcaV2_0.json": (None, "jupiter_dca"),
    "photon_pumpfun_buy_0.json": ("pumpfun", "photon"),
    "photon_pumpfun_sell.json": ("pumpfun", "photon"),
    "pumpfun_buy_0.json": ("pumpfun", None),
    "pumpfun_buy_bundle.json": ("pumpfun", None),
    "pumpfun_create_0.json": ("pumpfun", None),
    "pumpfun_sell_0.json": ("pumpfun", None),
    "raydiumLiquidityPoolV4_swap_0.json": ("raydium_amm_v4", None),
    "raydiumLiquidityPoolV4_swap_2.json": ("raydium_amm_v4", None),
    "token_transfer_0.json": (None, None),
}


def test_readme_table_covers_every_real_fixture() -> None:
    assert sorted(README_ROWS) == GOOD_FILES
    assert sorted(EXPECTED_DEX) == GOOD_FILES


# --- the fee payer's swap, to the base unit -----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SWAP_ROWS))
def test_fee_payer_swap_matches_readme_balance_table(name: str) -> None:
    # Arrange: expected values from README.md, table "The swap seen from the fee payer's balances"
    row = SWAP_ROWS[name]
    # Act
    tx = parse_transaction_bytes(_raw(name), where=name)
    # Assert
    assert tx.signature == row["signature"]
    assert tx.slot == int(row["slot"])
    assert tx.status == "success"
    assert tx.signers[0] == row["signer"]
    payer_swaps = [s for s in tx.swaps if s.owner == row["signer"]]
    assert len(payer_swaps) == 1, tx.swaps
    swap = payer_swaps[0]
    assert (swap.mint_in, swap.amount_in) == (row["mint_in"], int(row["amount_in"]))
    assert (swap.mint_out, swap.amount_out) == (row["mint_out"], int(row["amount_out"]))
    assert type(swap.amount_in) is int and type(swap.amount_out) is int


@pytest.mark.parametrize("name", sorted(NO_SWAP_ROWS))
def test_transactions_that_are_not_swaps_emit_none(name: str) -> None:
    # README: DCA open/close/keeper and the token transfer have one leg or none for the fee payer: not swaps
    tx = parse_transaction_bytes(_raw(name), where=name)
    assert tx.status == "success"
    assert tx.swaps == ()
    assert tx.hops == ()


@pytest.mark.parametrize("name", GOOD_FILES)
def test_dex_router_and_programs_follow_the_readme(name: str) -> None:
    tx = parse_transaction_bytes(_raw(name), where=name)
    dex, router = EXPECTED_DEX[name]
    assert (tx.dex, tx.router) == (dex, router)
    # every program the README lists as invoked (`6m2CDd…` prefixes) is in tx.programs
    for prefix in re.findall(r"\(([1-9A-HJ-NP-Za-km-z]{6})…\)", README_ROWS[name]["programs_text"]):
        assert any(p.startswith(prefix) for p in tx.programs), (prefix, tx.programs)
    assert set(tx.venues) <= set(VENUES.values())
    assert tx.router is None or tx.router in ROUTERS.values()
    assert tx.fee_lamports == _doc(name)["meta"]["fee"]
    assert tx.block_time == _doc(name)["blockTime"]


def test_multi_hop_route_records_one_net_swap_and_a_hop_per_pool() -> None:
    # OKXDEX_swap_0.json: README "two hops through Raydium CPMM and Raydium CLMM"; amounts from the README table
    tx = parse_transaction_bytes(_raw("OKXDEX_swap_0.json"))
    assert tx.venues == ("raydium_cpmm", "raydium_clmm")
    assert len(tx.swaps) == 1
    swap = tx.swaps[0]
    assert swap.pool is None  # two pools: the route has no single pool, the hops name them
    first, second = tx.hops
    assert (first.dex, second.dex) == ("raydium_cpmm", "raydium_clmm")
    assert first.mint_in == swap.mint_in and second.mint_out == swap.mint_out
    assert first.mint_out == second.mint_in == WSOL_MINT  # routed through SOL
    assert first.amount_out == second.amount_in  # what the first pool paid, the second received
    assert second.amount_out == swap.amount_out  # the signer got what the last pool paid
    assert first.amount_in <= swap.amount_in  # the router keeps its commission out of the input


# The pool-level amount the source asserts for each single-pool fixture: expected_values.json, with the README's
# reconciliation ("delta minus source"): the source's amounts are what the pool moved, before tips and fees.
@pytest.mark.parametrize(
    "name",
    [
        "OKXDEX_swap_2.json",
        "jupiterAggregatorV6_Route_1.json",
        "photon_pumpfun_buy_0.json",
        "photon_pumpfun_sell.json",
        "pumpfun_buy_0.json",
        "pumpfun_sell_0.json",
        "raydiumLiquidityPoolV4_swap_0.json",
        "raydiumLiquidityPoolV4_swap_2.json",
    ],
)
def test_single_pool_hop_matches_source_instruction_amounts(name: str) -> None:
    check = next(c for t in EXPECTED[name] for c in t["checks"] if "FromTokenAmount" in c)
    tx = parse_transaction_bytes(_raw(name))
    (hop,) = tx.hops
    assert (hop.mint_in, hop.amount_in) == (check["FromToken"], check["FromTokenAmount"])
    assert (hop.mint_out, hop.amount_out) == (check["ToToken"], check["ToTokenAmount"])
    assert tx.swaps[0].pool == hop.pool


def test_bundle_gives_one_swap_per_buyer_with_source_amounts() -> None:
    # pumpfun_buy_bundle.json: expected_values.json has three buyers (Who); README: each one's SOL leg is the
    # source's FromTokenAmount + FeeAmount (the 1 % Pump.fun fee), no tips; token leg = ToTokenAmount.
    tx = parse_transaction_bytes(_raw("pumpfun_buy_bundle.json"))
    by_owner = {s.owner: s for s in tx.swaps}
    assert len(by_owner) == len(tx.swaps)  # one swap per owner
    checks = [c for t in EXPECTED["pumpfun_buy_bundle.json"] for c in t["checks"]]
    assert len(checks) == 3
    for c in checks:
        swap = by_owner[c["Who"]]
        assert (swap.mint_in, swap.amount_in) == (WSOL_MINT, c["FromTokenAmount"] + c["FeeAmount"])
        assert (swap.mint_out, swap.amount_out) == (c["ToToken"], c["ToTokenAmount"])
    # Every swap is on the one curve, whose vault balances paid out exactly what the buyers received (the
    # transaction has 4 signers; the fourth one, not asserted by the source, bought too).
    (hop,) = tx.hops
    assert {s.pool for s in tx.swaps} == {hop.pool}
    assert set(tx.signers) == set(by_owner)
    assert hop.amount_out == sum(s.amount_out for s in tx.swaps)
    assert hop.amount_in < sum(s.amount_in for s in tx.swaps)  # buyers also paid the fee, outside the curve


def test_create_with_first_buy_has_no_hop_for_the_new_curve() -> None:
    # pumpfun_create_0.json: the curve is created in the transaction, so its vault balance includes the mint
    tx = parse_transaction_bytes(_raw("pumpfun_create_0.json"))
    assert tx.hops == ()
    assert len(tx.swaps) == 1 and tx.swaps[0].pool is not None  # the only pool touched: the new curve


# --- wrapped SOL, failed transactions ------------------------------------------------------------------------


def test_temporary_wsol_account_nets_out_of_the_sol_leg() -> None:
    # raydiumLiquidityPoolV4_swap_0.json: WSOL account created with seed and closed in the same tx (README).
    # Independent check: SOL out = native lamport change of the fee payer + fee (README rule, no token account of
    # the payer is opened or closed here).
    doc = _doc("raydiumLiquidityPoolV4_swap_0.json")
    native = doc["meta"]["postBalances"][0] - doc["meta"]["preBalances"][0] + doc["meta"]["fee"]
    tx = parse_transaction(doc)
    assert tx.swaps[0].mint_out == WSOL_MINT
    assert tx.swaps[0].amount_out == native


def _failed(doc: dict) -> dict:
    """Mark a transaction as failed, as the RPC does (our conversion): err set, balances only lose the fee."""
    doc = copy.deepcopy(doc)
    meta = doc["meta"]
    meta["err"] = {"InstructionError": [3, {"Custom": 6001}]}
    meta["status"] = {"Err": meta["err"]}
    meta["postBalances"] = list(meta["preBalances"])
    meta["postBalances"][0] -= meta["fee"]
    meta["postTokenBalances"] = copy.deepcopy(meta["preTokenBalances"])
    meta["innerInstructions"] = []
    return doc


@pytest.mark.parametrize("name", ["pumpfun_buy_0.json", "OKXDEX_swap_0.json"])
def test_failed_transaction_has_no_swap_and_keeps_the_fee(name: str) -> None:
    doc = _failed(_doc(name))
    tx = parse_transaction(doc)
    assert tx.status == "failed"
    assert tx.swaps == () and tx.hops == ()
    assert tx.fee_lamports == doc["meta"]["fee"] > 0
    assert tx.dex == EXPECTED_DEX[name][0] or tx.router == EXPECTED_DEX[name][1]  # top-level programs still known


def test_failed_transaction_with_balance_moves_still_emits_nothing() -> None:
    doc = copy.deepcopy(_doc("pumpfun_buy_0.json"))
    doc["meta"]["err"] = {"InstructionError": [3, {"Custom": 6001}]}
    assert parse_transaction(doc).swaps == ()


# --- malformed input ----------------------------------------------------------------------------------------


def test_broken_data_0_not_a_transaction_raises_tx_parse_error() -> None:
    # expected_values.json: the source expects an error for this file
    with pytest.raises(TxParseError, match="expected a getTransaction result object, was str"):
        parse_transaction_bytes(_raw("broken_data_0.json"), where="broken_data_0.json")


def test_broken_data_1_truncated_key_list_raises_tx_parse_error() -> None:
    # Our decision: the key list (2 keys) disagrees with the balances (14), so the document is corrupt and goes to
    # quarantine with the reason, rather than the source's "Unknown" action.
    with pytest.raises(TxParseError, match="2 account keys but 14 pre- and 14 post-balances") as info:
        parse_transaction_bytes(_raw("broken_data_1.json"), where="broken_data_1.json")
    assert info.value.where == "broken_data_1.json"
    assert "Hint" in str(info.value)


def test_unknown_version_raises_with_the_version() -> None:
    doc = _doc("pumpfun_sell_0.json")
    doc["version"] = 1
    with pytest.raises(TxParseError, match="unknown transaction version 1"):
        parse_transaction(doc)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d.pop("meta"), "field 'meta' is missing"),
        (lambda d: d.__setitem__("meta", None), "meta is null"),
        (lambda d: d.__setitem__("transaction", ["AQID", "base64"]), "binary encoding"),
        (lambda d: d["meta"].pop("loadedAddresses"), "loadedAddresses is missing"),
        (lambda d: d["transaction"]["message"]["instructions"][0].__setitem__("programIdIndex", 999), "index 999"),
        (lambda d: d["meta"]["postTokenBalances"][0].__setitem__("accountIndex", 500), "account index 500"),
        (lambda d: d.__setitem__("slot", "290506981"), "slot must be a non-negative integer"),
        (lambda d: d["meta"]["postTokenBalances"][0]["uiTokenAmount"].__setitem__("amount", "1e5"), "malformed"),
    ],
)
def test_malformed_documents_raise_tx_parse_error_with_the_reason(mutate, match: str) -> None:
    doc = _doc("raydiumLiquidityPoolV4_swap_0.json")  # version 0, with address lookup tables
    mutate(doc)
    with pytest.raises(TxParseError, match=match):
        parse_transaction(doc)


@given(cut=st.integers(min_value=0, max_value=len(_raw("pumpfun_buy_0.json")) - 1))
def test_truncated_json_always_raises_tx_parse_error(cut: int) -> None:
    with pytest.raises(TxParseError):
        parse_transaction_bytes(_raw("pumpfun_buy_0.json")[:cut])


def _paths(node, prefix=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node[:3]):
            yield (*prefix, i)
            yield from _paths(v, (*prefix, i))


_DOC_PATHS = list(_paths(_doc("OKXDEX_swap_0.json")))


@given(
    path=st.sampled_from(_DOC_PATHS),
    value=st.one_of(st.none(), st.integers(-5, 10**6), st.text(max_size=5), st.just([]), st.just({})),
    delete=st.booleans(),
)
def test_corrupted_documents_parse_or_raise_tx_parse_error_never_crash(path, value, delete: bool) -> None:
    doc = _doc("OKXDEX_swap_0.json")
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    try:
        tx = parse_transaction(doc)
    except TxParseError:
        return
    assert isinstance(tx, ParsedTx)


def test_parse_documents_quarantines_bad_entries_and_keeps_the_rest() -> None:
    good_a, good_b = _doc("pumpfun_buy_0.json"), _doc("pumpfun_sell_0.json")
    raw = json.dumps([good_a, "This is a broken data file", good_b]).encode()
    out = parse_documents(raw, source="batch.json")
    assert [type(o).__name__ for o in out] == ["ParsedTx", "TxParseError", "ParsedTx"]
    assert out[1].where == "batch.json[1]"
    assert out[0].signature == README_ROWS["pumpfun_buy_0.json"]["signature"]
    assert out[2].signature == README_ROWS["pumpfun_sell_0.json"]["signature"]
    assert isinstance(parse_documents(b'{"slot": ', source="cut.json")[0], TxParseError)


def test_rpc_envelope_is_unwrapped_and_null_result_is_an_error() -> None:
    doc = _doc("pumpfun_sell_0.json")
    direct = parse_transaction(doc)
    assert parse_transaction({"jsonrpc": "2.0", "id": 1, "result": doc}) == direct
    with pytest.raises(TxParseError, match="result null"):
        parse_transaction({"jsonrpc": "2.0", "id": 1, "result": None})
    with pytest.raises(TxParseError, match="RPC reply is an error"):
        parse_transaction({"jsonrpc": "2.0", "id": 1, "error": {"code": -32602, "message": "Invalid param"}})


# --- jsonParsed ---------------------------------------------------------------------------------------------

_PARSED_PROGRAMS = {  # programs the RPC shows as `parsed` in jsonParsed (their accounts/data are then absent)
    "11111111111111111111111111111111": "system",
    "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA": "spl-token",
    "ComputeBudget111111111111111111111111111111": "compute-budget",
}


def _to_json_parsed(doc: dict) -> dict:
    """Convert a json-encoded getTransaction result to the jsonParsed shape (our conversion, for testing)."""
    doc = copy.deepcopy(doc)
    message = doc["transaction"]["message"]
    meta = doc["meta"]
    static = message["accountKeys"]
    loaded = meta.get("loadedAddresses") or {"writable": [], "readonly": []}
    keys = static + loaded["writable"] + loaded["readonly"]
    n_sig = message["header"]["numRequiredSignatures"]
    message["accountKeys"] = [
        {
            "pubkey": k,
            "signer": i < n_sig,
            "writable": i < len(static) + len(loaded["writable"]),  # approximate: not read by the parser
            "source": "transaction" if i < len(static) else "lookupTable",
        }
        for i, k in enumerate(keys)
    ]

    def convert(ix: dict) -> dict:
        program = keys[ix["programIdIndex"]]
        if program in _PARSED_PROGRAMS:
            return {
                "program": _PARSED_PROGRAMS[program],
                "programId": program,
                "parsed": {"type": "unknown", "info": {}},
                "stackHeight": ix.get("stackHeight"),
            }
        return {
            "programId": program,
            "accounts": [keys[a] for a in ix["accounts"]],
            "data": ix["data"],
            "stackHeight": ix.get("stackHeight"),
        }

    message["instructions"] = [convert(ix) for ix in message["instructions"]]
    for group in meta.get("innerInstructions") or ():
        group["instructions"] = [convert(ix) for ix in group["instructions"]]
    return doc


@pytest.mark.parametrize("name", GOOD_FILES)
def test_json_parsed_encoding_gives_the_same_result(name: str) -> None:
    doc = _doc(name)
    assert parse_transaction(_to_json_parsed(doc)) == parse_transaction(doc)


# --- output shape, base58 -----------------------------------------------------------------------------------


def test_to_json_has_exactly_the_issue_shape() -> None:
    tx = parse_transaction_bytes(_raw("pumpfun_buy_bundle.json"))
    out = json.loads(tx.to_json())
    assert list(out) == ["signature", "slot", "status", "dex", "swaps"]
    assert out["dex"] == "pumpfun" and out["status"] == "success"
    assert len(out["swaps"]) == len(tx.swaps)
    for s in out["swaps"]:
        assert list(s) == ["owner", "mint_in", "amount_in", "mint_out", "amount_out", "pool"]
        assert type(s["amount_in"]) is int and type(s["amount_out"]) is int


@given(key=st.binary(min_size=32, max_size=32))
def test_b58decode_round_trips_solders_pubkeys(key: bytes) -> None:
    # oracle: solders' base58 encoder
    assert b58decode(str(Pubkey.from_bytes(key))) == key


def test_b58decode_rejects_characters_outside_the_alphabet() -> None:
    with pytest.raises(ValueError, match="not base58"):
        b58decode("0OIl")
