"""Atomic file writes: a reader sees the whole file or nothing, even after kill -9."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path

TMP_PREFIX = ".tmp-"  # readers glob `*.parquet`; in-flight files never match


def write_atomic(path: Path, write: Callable[[Path], None]) -> Path:
    """Write ``path`` via ``write(tmp)``, fsync it, rename it into place, fsync the folder.

    The temporary file sits in the same folder (a rename is atomic only within one file
    system) under a name no reader globs for. A crash leaves at most a stray temp file,
    which `sweep_temp_files` removes.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f"{TMP_PREFIX}{uuid.uuid4().hex}-{path.name}.partial"
    try:
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sweep_temp_files(root: Path) -> int:
    """Remove temp files left by writers that died; return how many were removed."""
    n = 0
    if root.exists():
        for tmp in root.rglob(f"{TMP_PREFIX}*"):
            tmp.unlink(missing_ok=True)
            n += 1
    return n
