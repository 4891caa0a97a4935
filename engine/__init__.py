"""shoal's engine: markets, orders and time; no strategy ideas (never imports `research`).

Importing it points Numba's on-disk cache at a folder named after a hash of the engine's
source. Numba re-validates a cached function against its own file only: a function that
calls into another module keeps the old machine code of its callee after that module
changes. A fresh folder per engine version makes every change take effect, at the price
of one recompile after an edit. Set ``NUMBA_CACHE_DIR`` to manage the cache yourself.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_ROOT = Path(__file__).resolve().parent


def source_hash(*folders: Path) -> str:
    """Return a short hash of every ``.py`` file under ``folders`` (paths and contents)."""
    h = hashlib.sha256()
    for folder in folders:
        for path in sorted(folder.rglob("*.py")):
            h.update(str(path.relative_to(folder)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def cache_root() -> Path:
    """Root of shoal's caches: ``$SHOAL_CACHE_DIR``, else ``~/.cache/shoal``."""
    env = os.environ.get("SHOAL_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "shoal"


ENGINE_HASH = source_hash(_ROOT)

if "NUMBA_CACHE_DIR" not in os.environ:
    import numba

    numba.config.CACHE_DIR = str(cache_root() / "numba" / ENGINE_HASH)
