"""A remote lake's catalog travels with it: a local DuckDB file, mirrored as one object.

DuckDB needs a local file it can lock and update in place, yet the registries in it (the ids
every stored event refers to) must reach each machine that reads the lake. So a remote lake's
catalog is worked on locally and published to ``<url>/shoal.duckdb`` with one put after a
session that changed it; a machine whose copy is older fetches it before opening. One writer
at a time, as for a local lake: a catalog changed both here and in the bucket since the last
sync is refused, never merged or overwritten.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from engine.errors import LakeError
from engine.store.atomic import write_atomic
from engine.store.storage import ObjectStorage

CATALOG_FILE = "shoal.duckdb"
SYNC_FILE = "catalog-sync.json"  # ETag and SHA-256 of the catalog at the last pull or push


def pull(storage: ObjectStorage, local: Path) -> None:
    """Replace ``local`` by the bucket's catalog when the bucket holds a newer one."""
    last = _last_sync(local)
    remote = storage.etag(CATALOG_FILE)
    if remote is None or remote == last.get("etag"):
        return
    if local.exists() and _sha256(local) != last.get("sha256"):
        _conflict(storage, local)
    etag = storage.get(CATALOG_FILE, local)
    _record(local, etag)


def push(storage: ObjectStorage, local: Path) -> None:
    """Publish ``local`` to the bucket if it changed since the last sync."""
    if not local.exists():
        return
    last = _last_sync(local)
    if _sha256(local) == last.get("sha256"):
        return
    remote = storage.etag(CATALOG_FILE)
    if remote is not None and remote != last.get("etag"):
        _conflict(storage, local)
    _record(local, storage.put(CATALOG_FILE, local))


def _conflict(storage: ObjectStorage, local: Path) -> None:
    msg = (f"the catalog of {storage.url!r} changed both in the bucket and here ({str(local)!r}) since they were "
           "last in sync: two writers used this lake at once. Hint: keep one writer per lake; to take the "
           f"bucket's version, delete {str(local.parent)!r} and run again")
    raise LakeError(msg)


def _last_sync(local: Path) -> dict:
    path = local.parent / SYNC_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def _record(local: Path, etag: str) -> None:
    doc = json.dumps({"etag": etag, "sha256": _sha256(local)})
    write_atomic(local.parent / SYNC_FILE, lambda tmp: tmp.write_text(doc))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
