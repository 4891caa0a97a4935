"""Keep the token registry in sync with a token list file.

A token list is JSON (an array of objects, or the Solana token-list form ``{"tokens": [...]}``)
or CSV, one token per row. Columns are matched case-insensitively: ``mint`` (or ``address``),
``symbol``, ``decimals``, ``mint_authority``, ``freeze_authority``, ``transfer_fee_bps``,
``created_slot``. Authorities may be booleans or the authority's address (present = true,
null/empty = false).

The whole list goes to the registry in one batched upsert (`engine.store.registry.sync`: staged
as Arrow, set-based SQL): new mints are listed, changed fields get one history row each, and
with ``full=True`` listed tokens missing from the file are delisted (and relisted if they come
back). Mints that swaps registered (`engine.feeds.tx_ingest`) are tokens like any other: a
``full`` sync against a curated list delists those not on it, so ``full`` is off by default.

Fetching token metadata over RPC is not done here: public RPC has no token-list method, and
decimals/authorities per mint need one ``getAccountInfo`` each; keep a list file instead.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import polars as pl

from engine.errors import ConfigError
from engine.store import registry

__all__ = ["TOKEN_FIELDS", "read_token_list", "sync_tokens"]

TOKEN_FIELDS = {
    "mint": ("mint", "address", "mint_address", "token_address", "id"),
    "symbol": ("symbol", "ticker"),
    "decimals": ("decimals",),
    "mint_authority": ("mint_authority", "mintauthority"),
    "freeze_authority": ("freeze_authority", "freezeauthority"),
    "transfer_fee_bps": ("transfer_fee_bps", "transferfeebps"),
    "created_slot": ("created_slot",),
}
_TYPES = {"mint": pl.String, "symbol": pl.String, "decimals": pl.Int16, "mint_authority": pl.Boolean,
          "freeze_authority": pl.Boolean, "transfer_fee_bps": pl.Int32, "created_slot": pl.Int64}


def read_token_list(path: Path) -> pl.DataFrame:
    """Read a token list file into registry columns (``mint`` plus whichever fields it has)."""
    if not path.is_file():
        msg = f"no token list at {str(path)!r}"
        raise ConfigError(msg)
    try:
        if path.suffix.lower() == ".csv":
            raw = pl.read_csv(path, infer_schema_length=0)
        else:
            doc = json.loads(path.read_text())
            rows = doc.get("tokens") if isinstance(doc, dict) else doc
            if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                msg = f"{path}: a token list is a JSON array of objects or {{\"tokens\": [...]}}"
                raise ConfigError(msg)
            raw = pl.DataFrame([{k: v for k, v in r.items() if not isinstance(v, dict | list)} for r in rows],
                               infer_schema_length=None) if rows else pl.DataFrame({"mint": []})
    except (OSError, ValueError, pl.exceptions.PolarsError) as e:
        if isinstance(e, ConfigError):
            raise
        msg = f"cannot read the token list {str(path)!r} ({type(e).__name__}: {e}); the file may be truncated"
        raise ConfigError(msg) from e
    lower = {c.lower(): c for c in raw.columns}
    cols = {}
    for fld, aliases in TOKEN_FIELDS.items():
        src = next((lower[a] for a in aliases if a in lower), None)
        if src is not None:
            cols[fld] = _convert(raw[src], fld)
    if "mint" not in cols:
        msg = f"{path}: no mint column (looked for {TOKEN_FIELDS['mint']}); its columns are {raw.columns}"
        raise ConfigError(msg)
    df = pl.DataFrame(cols).filter(pl.col("mint").is_not_null() & (pl.col("mint") != ""))
    return df


def _convert(s: pl.Series, fld: str) -> pl.Series:
    if fld in ("mint_authority", "freeze_authority"):
        if s.dtype == pl.Boolean:
            return s
        text = s.cast(pl.String).str.strip_chars().str.to_lowercase()
        return (text.is_not_null() & ~text.is_in(["", "false", "0", "none", "null"])).alias(fld)
    if _TYPES[fld] == pl.String:
        return s.cast(pl.String).str.strip_chars()
    return s.cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False).cast(_TYPES[fld], strict=False)


def sync_tokens(con: duckdb.DuckDBPyConnection, tokens: pl.DataFrame, *, full: bool = False,
                now_ns: int | None = None) -> registry.SyncReport:
    """Upsert ``tokens`` into the registry; with ``full``, delist listed tokens missing from it."""
    return registry.sync(con, "tokens", tokens, full=full, now_ns=now_ns)
