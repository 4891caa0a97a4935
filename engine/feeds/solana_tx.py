"""Turn Solana ``getTransaction`` responses into swaps: what each signer gave and got, per mint.

A swap is read from **balances**, not from instruction data, so one rule covers every DEX,
router and bot: for each signer of a successful transaction, the legs are

* per token mint: post minus pre amount, summed over the token accounts the signer owns
  (``meta.pre/postTokenBalances``; an account absent on one side counts as 0 there);
* SOL, reported under the WSOL mint ``So111…112``: the signer's native lamport change, plus
  the transaction fee if it is the fee payer, plus the lamport change of every token account
  it owns that was opened or closed in the transaction (that is rent, and any wrapped SOL in
  it), plus the WSOL amount change of its token accounts that stay open. Wrapping and
  unwrapping SOL, and rent of the signer's own new token accounts, thus cancel out; tips, bot
  and protocol fees paid in SOL stay in the SOL leg (they are part of what the trade cost).

The signer traded when it has at least one negative and one positive leg; ``mint_in`` is its
most negative leg and ``mint_out`` its most positive (in base units). When token legs of both
signs exist, the SOL leg is left out of that choice (it is then fees and tips of a
token-to-token route). One :class:`Swap` per signer who traded: a bundle with three buyers
gives three swaps. A failed transaction gives no swap (its fee is in ``fee_lamports``); a
transaction with no signer holding opposite legs (transfers, DCA deposits) gives none.

**DEX attribution.** ``programs`` lists every program invoked, top level and inner, in order of
first invocation. ``dex`` is the first liquidity venue invoked (the program that held the
liquidity: ``raydium_amm_v4``, ``raydium_cpmm``, ``raydium_clmm``, ``orca_whirlpool``,
``meteora_dlmm``, ``pumpfun``, ``pumpswap``); ``venues`` lists all of them (a multi-hop route
through two DEXes names both); ``router`` is the first aggregator or bot invoked
(``jupiter_v6``, ``jupiter_dca``, ``okx_router``, ``photon``), or None when the venue was
called directly. Unknown programs leave ``dex`` None.

**Hops.** For each swap instruction of a known venue (top level or inner), the pool account
and its vault accounts sit at fixed positions (`engine.feeds.programs.SWAP_LAYOUTS`); the
vaults' balance changes give one :class:`Hop` per pool: what the pool received and paid.
A pool whose vaults moved the same way (liquidity added or removed), or that was created in the
same transaction (its vault balances then include the initial mint), gets no hop.
``Swap.pool`` is the pool of the hop that trades exactly the swap's two mints, else the only
pool the transaction touched, else None (a multi-hop route: see ``hops``).

Both ``json`` and ``jsonParsed`` encodings are read, legacy and version-0 transactions
(version-0 keys are extended by ``meta.loadedAddresses``, writable then readonly; in
``jsonParsed`` the key list already holds them). Token balances without an ``owner`` (RPC
responses from before mid-2022) cannot be attributed to a signer and are left out.

**Bad input** raises :class:`TxParseError` (a ``ValueError``) naming the document and the
problem, never a bare ``KeyError``/``IndexError``; :func:`parse_documents` turns a file into
one result per document so the good ones land and the bad ones go to quarantine. A document
whose key list disagrees with its balances or instruction indexes (the ``broken_data_1``
fixture: ``accountKeys`` cut to 2 entries, 14 balances) is rejected as corrupt rather than
parsed as "no swap": a truncated key list can misattribute every balance.

Speed: ~24,000 tx/s from raw bytes on one core with ``orjson`` installed (it is used when
importable), ~15,000 tx/s with the standard library's ``json``; see ``benchmarks/bench_ingest.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from engine.feeds.programs import ROUTERS, SWAP_LAYOUTS, VENUES, WSOL_MINT

try:  # orjson parses large documents 3-4x faster than the standard library; optional
    import orjson

    _loads = orjson.loads
except ImportError:  # pragma: no cover - depends on the environment
    _loads = json.loads

__all__ = [
    "WSOL_MINT",
    "Hop",
    "ParsedTx",
    "Swap",
    "TxParseError",
    "b58decode",
    "parse_documents",
    "parse_transaction",
    "parse_transaction_bytes",
]

_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {ch: i for i, ch in enumerate(_B58_ALPHABET)}
# Swap instructions carry at most ~100 bytes of arguments (Orca two-hop v2 and Meteora swap2 with
# remaining-account slices are the longest); longer data is some other instruction, not decoded.
_MAX_SWAP_DATA_B58 = 160
_HINT = (
    "Hint: pass the `result` of getTransaction with encoding json or jsonParsed and "
    "maxSupportedTransactionVersion=0"
)


class TxParseError(ValueError):
    """A ``getTransaction`` document that cannot be read; ``where`` names the document."""

    def __init__(self, msg: str, *, where: str = "transaction") -> None:
        super().__init__(f"{where}: {msg}")
        self.where = where
        self.reason = msg


@dataclass(frozen=True, slots=True)
class Swap:
    """One signer's net trade in a transaction, in base units (lamports for SOL, under the WSOL mint)."""

    owner: str
    mint_in: str
    amount_in: int
    mint_out: str
    amount_out: int
    pool: str | None


@dataclass(frozen=True, slots=True)
class Hop:
    """What one pool received (``mint_in``) and paid out (``mint_out``), from its vault balances."""

    pool: str
    dex: str
    mint_in: str
    amount_in: int
    mint_out: str
    amount_out: int


@dataclass(frozen=True, slots=True)
class ParsedTx:
    """One parsed transaction.

    Parameters
    ----------
    signature : str
        First signature (the transaction id).
    slot : int
        Slot the transaction landed in.
    block_time : int or None
        UNIX seconds from ``blockTime``; None when the node did not record it.
    status : str
        ``"success"`` or ``"failed"`` (``meta.err`` set: no swaps, the fee was still paid).
    fee_lamports : int
        Transaction fee (base plus priority fee) paid by the fee payer.
    dex, router : str or None
        First liquidity venue and first router invoked (see the module docstring).
    venues : tuple of str
        Every liquidity venue invoked, in order of first invocation.
    programs : tuple of str
        Every program id invoked, top level and inner, in order of first invocation.
    signers : tuple of str
        Signer public keys; the first pays the fee.
    swaps : tuple of Swap
        One per signer who traded.
    hops : tuple of Hop
        One per pool whose vault balances show a swap.
    """

    signature: str
    slot: int
    block_time: int | None
    status: str
    fee_lamports: int
    dex: str | None
    router: str | None
    venues: tuple[str, ...]
    programs: tuple[str, ...]
    signers: tuple[str, ...]
    swaps: tuple[Swap, ...]
    hops: tuple[Hop, ...]

    def to_json_dict(self) -> dict[str, Any]:
        """Return the ``shoal ingest tx --json`` record: signature, slot, status, dex and swaps."""
        return {
            "signature": self.signature,
            "slot": self.slot,
            "status": self.status,
            "dex": self.dex,
            "swaps": [
                {
                    "owner": s.owner,
                    "mint_in": s.mint_in,
                    "amount_in": s.amount_in,
                    "mint_out": s.mint_out,
                    "amount_out": s.amount_out,
                    "pool": s.pool,
                }
                for s in self.swaps
            ],
        }

    def to_json(self) -> str:
        """Return :meth:`to_json_dict` as one line of JSON (integers stay integers)."""
        return json.dumps(self.to_json_dict(), separators=(",", ":"))


def b58decode(text: str) -> bytes:
    """Decode a base58 string (Bitcoin alphabet, as Solana uses) to bytes."""
    n = 0
    index = _B58_INDEX
    try:
        for ch in text:
            n = n * 58 + index[ch]
    except KeyError as e:
        msg = f"{text[:40]!r} is not base58: character {e.args[0]!r} is outside the alphabet"
        raise ValueError(msg) from None
    n_pad = len(text) - len(text.lstrip("1"))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\x00" * n_pad + body


def parse_transaction_bytes(raw: bytes | str, *, where: str = "transaction") -> ParsedTx:
    """Parse one ``getTransaction`` result from JSON text (an object, or an array of exactly one).

    Raises
    ------
    TxParseError
        The text is not JSON, holds several transactions (use :func:`parse_documents`), or is
        not a readable transaction.
    """
    try:
        doc = _loads(raw)
    except ValueError as e:  # json.JSONDecodeError and orjson.JSONDecodeError are ValueErrors
        msg = f"not valid JSON ({e}); {_HINT}"
        raise TxParseError(msg, where=where) from e
    if isinstance(doc, list):
        if len(doc) != 1:
            msg = (
                f"a JSON array of {len(doc)} documents was passed where one transaction was expected; "
                "Hint: use parse_documents() for arrays"
            )
            raise TxParseError(msg, where=where)
        doc = doc[0]
    return parse_transaction(doc, where=where)


def parse_documents(raw: bytes | str, *, source: str = "<bytes>") -> list[ParsedTx | TxParseError]:
    """Parse a file's text: one transaction, or a JSON array of them; never raises on bad data.

    Returns one entry per document, in order: a :class:`ParsedTx`, or the
    :class:`TxParseError` that says why that document was rejected (for the quarantine table).
    Text that is not JSON at all gives a single error.
    """
    try:
        doc = _loads(raw)
    except ValueError as e:
        return [TxParseError(f"not valid JSON ({e}); {_HINT}", where=source)]
    docs = doc if isinstance(doc, list) else [doc]
    out: list[ParsedTx | TxParseError] = []
    for i, item in enumerate(docs):
        where = f"{source}[{i}]" if isinstance(doc, list) else source
        try:
            out.append(parse_transaction(item, where=where))
        except TxParseError as e:
            out.append(e)
    return out


def parse_transaction(doc: Any, *, where: str = "transaction") -> ParsedTx:
    """Parse one decoded ``getTransaction`` document (the ``result`` object, or the whole RPC reply).

    Raises
    ------
    TxParseError
        For anything that is not a readable transaction: wrong type, missing or inconsistent
        fields, unknown version, unsupported encoding, indexes outside the key list.
    """
    try:
        return _parse(doc, where)
    except TxParseError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as e:
        msg = f"malformed getTransaction document ({type(e).__name__}: {e}); {_HINT}"
        raise TxParseError(msg, where=where) from e


def _fail(msg: str, where: str) -> TxParseError:
    return TxParseError(msg, where=where)


def _unwrap(doc: Any, where: str) -> dict[str, Any]:
    if isinstance(doc, list) and len(doc) == 1:
        doc = doc[0]
    if not isinstance(doc, dict):
        shown = repr(doc)[:80]
        msg = f"expected a getTransaction result object, was {type(doc).__name__} {shown}; {_HINT}"
        raise _fail(msg, where)
    if "transaction" not in doc and ("result" in doc or "error" in doc):  # a whole JSON-RPC reply
        if doc.get("error") is not None:
            msg = f"the RPC reply is an error: {str(doc['error'])[:200]}"
            raise _fail(msg, where)
        doc = doc.get("result")
        if doc is None:
            msg = (
                "the RPC reply has result null: the node does not have this transaction; "
                "Hint: retry another node or a later slot"
            )
            raise _fail(msg, where)
        if not isinstance(doc, dict):
            msg = f"the RPC reply's result is {type(doc).__name__}, not an object; {_HINT}"
            raise _fail(msg, where)
    return doc


def _parse(doc: Any, where: str) -> ParsedTx:
    doc = _unwrap(doc, where)
    for key in ("slot", "transaction", "meta"):
        if key not in doc:
            msg = f"field {key!r} is missing (fields were {sorted(doc)[:12]}); {_HINT}"
            raise _fail(msg, where)
    version = doc.get("version", "legacy")  # absent when the request had no maxSupportedTransactionVersion
    if not (version == "legacy" or (type(version) is int and version == 0)):
        msg = (
            f"unknown transaction version {version!r} (known: 'legacy', 0); "
            "Hint: update the parser for the new message format"
        )
        raise _fail(msg, where)
    tx = doc["transaction"]
    if not isinstance(tx, dict):
        msg = f"transaction is {type(tx).__name__}, i.e. a binary encoding (base58/base64); {_HINT}"
        raise _fail(msg, where)
    meta = doc["meta"]
    if not isinstance(meta, dict):
        msg = (
            "meta is null: the node returned no status meta, so balances are unknown; "
            "Hint: fetch it from a node with transaction history"
        )
        raise _fail(msg, where)
    message = tx["message"]
    signatures = tx["signatures"]
    if not signatures:
        msg = "transaction.signatures is empty"
        raise _fail(msg, where)
    slot = doc["slot"]
    if type(slot) is not int or slot < 0:
        msg = f"slot must be a non-negative integer, was {slot!r}"
        raise _fail(msg, where)
    block_time = doc.get("blockTime")
    if block_time is not None and type(block_time) is not int:
        msg = f"blockTime must be integer seconds or null, was {block_time!r}"
        raise _fail(msg, where)

    # --- account keys --------------------------------------------------------------------------
    raw_keys = message["accountKeys"]
    if not raw_keys:
        msg = "transaction.message.accountKeys is empty"
        raise _fail(msg, where)
    parsed_encoding = isinstance(raw_keys[0], dict)
    if parsed_encoding:  # jsonParsed: objects that already include lookup-table keys
        keys = [k["pubkey"] for k in raw_keys]
        signer_idx = [i for i, k in enumerate(raw_keys) if k["signer"]]
    else:
        keys = list(raw_keys)
        loaded = meta.get("loadedAddresses")
        if loaded:
            keys += loaded["writable"]
            keys += loaded["readonly"]
        elif message.get("addressTableLookups"):
            msg = (
                "the message uses address lookup tables but meta.loadedAddresses is missing; "
                "Hint: request maxSupportedTransactionVersion=0"
            )
            raise _fail(msg, where)
        signer_idx = list(range(message["header"]["numRequiredSignatures"]))
    n_keys = len(keys)
    pre_bal = meta["preBalances"]
    post_bal = meta["postBalances"]
    if len(pre_bal) != n_keys or len(post_bal) != n_keys:
        msg = (
            f"{n_keys} account keys but {len(pre_bal)} pre- and {len(post_bal)} post-balances; "
            "the key list or the balances are truncated; Hint: re-fetch the transaction"
        )
        raise _fail(msg, where)
    if not signer_idx or signer_idx[-1] >= n_keys:
        msg = f"signer count {len(signer_idx)} does not fit {n_keys} account keys"
        raise _fail(msg, where)
    fee = meta["fee"]
    status = "success" if meta.get("err") is None else "failed"

    # --- instructions: programs invoked, routers, venue swap instructions ----------------------
    top = message["instructions"]
    inner_by_top: dict[int, list[dict[str, Any]]] = {}
    for group in meta.get("innerInstructions") or ():
        inner_by_top[group["index"]] = group["instructions"]
    key_index = {k: i for i, k in enumerate(keys)} if parsed_encoding else None
    programs: dict[str, None] = {}
    pools: dict[int, tuple[str, set[int], bool]] = {}  # pool index -> (dex, vault indexes, native)
    for t, ix in enumerate(top):
        for j, one in enumerate((ix, *inner_by_top.get(t, ()))):
            if key_index is None:  # the hot path: json encoding, program by index
                p = one["programIdIndex"]
                if not 0 <= p < n_keys:
                    what = f"instruction {t}" if j == 0 else f"inner instruction {t}.{j - 1}"
                    msg = (
                        f"{what} names program index {p!r}, outside the {n_keys} account keys; "
                        "the key list looks truncated"
                    )
                    raise _fail(msg, where)
                program = keys[p]
            else:
                program = one["programId"]
            programs[program] = None
            if program in SWAP_LAYOUTS and "data" in one:  # jsonParsed shows System/Token ixs as `parsed`
                what = f"instruction {t}" if j == 0 else f"inner instruction {t}.{j - 1}"
                _venue_swap(one, program, keys, key_index, pools, where, what)
    venues = tuple(dict.fromkeys(VENUES[p] for p in programs if p in VENUES))
    routers = [ROUTERS[p] for p in programs if p in ROUTERS]

    # --- balances -------------------------------------------------------------------------------
    pre_tok = _token_map(meta.get("preTokenBalances"), n_keys, where, "preTokenBalances")
    post_tok = _token_map(meta.get("postTokenBalances"), n_keys, where, "postTokenBalances")
    signers = tuple(keys[i] for i in signer_idx)
    hops: tuple[Hop, ...] = ()
    swaps: tuple[Swap, ...] = ()
    if status == "success":
        hops = _hops(pools, keys, pre_bal, post_bal, pre_tok, post_tok)
        swaps = _swaps(signer_idx, keys, fee, pre_bal, post_bal, pre_tok, post_tok, hops, pools)
    return ParsedTx(
        signature=signatures[0],
        slot=slot,
        block_time=block_time,
        status=status,
        fee_lamports=fee,
        dex=venues[0] if venues else None,
        router=routers[0] if routers else None,
        venues=venues,
        programs=tuple(programs),
        signers=signers,
        swaps=swaps,
        hops=hops,
    )


def _venue_swap(
    ix: dict[str, Any],
    program: str,
    keys: list[str],
    key_index: dict[str, int] | None,
    pools: dict[int, tuple[str, set[int], bool]],
    where: str,
    what: str,
) -> None:
    """Record the pool and vault indexes of one venue instruction if it is a swap."""
    disc_len, table = SWAP_LAYOUTS[program]
    data = ix["data"]
    if len(data) > _MAX_SWAP_DATA_B58:  # longer than any swap instruction: e.g. Pump.fun `create`
        return
    layout = table.get(b58decode(data)[:disc_len])
    if layout is None:
        return
    accounts = ix["accounts"]
    if len(accounts) < layout.min_accounts:
        return
    if key_index is not None:
        accounts = [key_index.get(a, -1) for a in accounts]
    n_keys = len(keys)
    dex = VENUES[program]
    for pool_pos, vault_pos in layout.pools:
        pool = accounts[pool_pos]
        vaults = [accounts[v] for v in vault_pos]
        for a in (pool, *vaults):
            if type(a) is not int or not 0 <= a < n_keys:
                msg = f"{what} ({dex} {layout.name}) names account {a!r}, outside the {n_keys} account keys"
                raise _fail(msg, where)
        entry = pools.get(pool)
        if entry is None:
            pools[pool] = (dex, set(vaults), layout.native_pool)
        else:
            entry[1].update(vaults)


def _token_map(
    entries: list[dict[str, Any]] | None, n_keys: int, where: str, field: str
) -> dict[int, tuple[str, str | None, int]]:
    """Map account index -> (mint, owner, raw amount) for one side of the token balances."""
    out: dict[int, tuple[str, str | None, int]] = {}
    for e in entries or ():
        i = e["accountIndex"]
        if type(i) is not int or not 0 <= i < n_keys:
            msg = f"meta.{field} names account index {i!r}, outside the {n_keys} account keys"
            raise _fail(msg, where)
        out[i] = (e["mint"], e.get("owner"), int(e["uiTokenAmount"]["amount"]))
    return out


def _hops(
    pools: dict[int, tuple[str, set[int], bool]],
    keys: list[str],
    pre_bal: list[int],
    post_bal: list[int],
    pre_tok: dict[int, tuple[str, str | None, int]],
    post_tok: dict[int, tuple[str, str | None, int]],
) -> tuple[Hop, ...]:
    out = []
    for pool, (dex, vaults, native) in pools.items():
        if pre_bal[pool] == 0:  # created in this transaction: vault balances include the initial mint
            continue
        deltas: dict[str, int] = {}
        created = False
        for v in vaults:
            before = pre_tok.get(v)
            after = post_tok.get(v)
            if before is None:
                created = True
                break
            mint = before[0]
            deltas[mint] = deltas.get(mint, 0) + (after[2] if after is not None else 0) - before[2]
        if created:
            continue
        if native:
            deltas[WSOL_MINT] = deltas.get(WSOL_MINT, 0) + post_bal[pool] - pre_bal[pool]
        pos = [(m, d) for m, d in deltas.items() if d > 0]
        neg = [(m, d) for m, d in deltas.items() if d < 0]
        if len(pos) == 1 and len(neg) == 1:
            out.append(Hop(keys[pool], dex, pos[0][0], pos[0][1], neg[0][0], -neg[0][1]))
    return tuple(out)


def _swaps(
    signer_idx: list[int],
    keys: list[str],
    fee: int,
    pre_bal: list[int],
    post_bal: list[int],
    pre_tok: dict[int, tuple[str, str | None, int]],
    post_tok: dict[int, tuple[str, str | None, int]],
    hops: tuple[Hop, ...],
    pools: dict[int, tuple[str, set[int], bool]],
) -> tuple[Swap, ...]:
    owners = {keys[i]: i for i in signer_idx}
    legs: dict[str, dict[str, int]] = {}
    for owner, i in owners.items():
        sol = post_bal[i] - pre_bal[i]
        if i == signer_idx[0]:
            sol += fee
        legs[owner] = {WSOL_MINT: sol}
    for idx, (mint, owner, amount) in post_tok.items():
        if owner not in owners:
            continue
        owner_legs = legs[owner]
        before = pre_tok.get(idx)
        if before is None:  # opened here: its lamports (rent + wrapped SOL) were the owner's SOL
            owner_legs[WSOL_MINT] += post_bal[idx] - pre_bal[idx]
            if mint != WSOL_MINT:
                owner_legs[mint] = owner_legs.get(mint, 0) + amount
        elif mint == WSOL_MINT:
            owner_legs[WSOL_MINT] += amount - before[2]
        else:
            owner_legs[mint] = owner_legs.get(mint, 0) + amount - before[2]
    for idx, (mint, owner, amount) in pre_tok.items():
        if owner not in owners or idx in post_tok:
            continue
        owner_legs = legs[owner]  # closed here: rent and wrapped SOL went back as lamports
        owner_legs[WSOL_MINT] += post_bal[idx] - pre_bal[idx]
        if mint != WSOL_MINT:
            owner_legs[mint] = owner_legs.get(mint, 0) - amount

    out = []
    for owner, owner_legs in legs.items():
        tokens_neg = any(d < 0 for m, d in owner_legs.items() if m != WSOL_MINT)
        tokens_pos = any(d > 0 for m, d in owner_legs.items() if m != WSOL_MINT)
        if tokens_neg and tokens_pos:  # token -> token: SOL spent is fees and tips
            cands = [(d, m) for m, d in owner_legs.items() if m != WSOL_MINT and d != 0]
        else:
            cands = [(d, m) for m, d in owner_legs.items() if d != 0]
        if not cands:
            continue
        d_in, m_in = min(cands)
        d_out, m_out = max(cands)
        if d_in >= 0 or d_out <= 0:
            continue
        out.append(Swap(owner, m_in, -d_in, m_out, d_out, _pool_for(m_in, m_out, hops, pools, keys)))
    return tuple(out)


def _pool_for(
    mint_in: str,
    mint_out: str,
    hops: tuple[Hop, ...],
    pools: dict[int, tuple[str, set[int], bool]],
    keys: list[str],
) -> str | None:
    """Return the pool that traded exactly these two mints, else the only pool touched, else None."""
    pair = {mint_in, mint_out}
    matching = [h.pool for h in hops if {h.mint_in, h.mint_out} == pair]
    if len(matching) == 1:
        return matching[0]
    if len(pools) == 1:
        return keys[next(iter(pools))]
    return None
