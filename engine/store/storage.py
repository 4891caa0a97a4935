"""Where a lake's Parquet lives: a local folder or an object store, behind one small interface.

`LocalStorage` lists with `pathlib` and writes with temp file + fsync + rename
(`engine.store.atomic`). `ObjectStorage` goes through fsspec (s3fs for ``s3://``): an object
store has no rename, but one PUT of a whole object is atomic (a multipart upload, used above
100 MB, stays invisible until it completes), so each file is built in memory and stored with
one put under its final key; a writer killed before that leaves nothing a reader can see.

Endpoint and credentials come from the standard variables (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_REGION``), which
s3fs, polars and DuckDB (through the registered fsspec filesystem) all read; errors raised here
never repeat their values.
"""

from __future__ import annotations

import hashlib
import io
import os
import posixpath
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from engine import cache_root
from engine.errors import LakeError
from engine.store.atomic import TMP_PREFIX, write_atomic

if TYPE_CHECKING:
    import duckdb

SECRET_VARS = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
CREDENTIALS_HINT = ("Hint: check AWS_ENDPOINT_URL (for an S3-compatible server), AWS_ACCESS_KEY_ID, "
                    "AWS_SECRET_ACCESS_KEY and AWS_REGION, and that the bucket exists")

Writer = Callable[[Path | BinaryIO], None]  # writes one whole file to a path or a binary buffer


def is_url(root: str | os.PathLike) -> bool:
    """True for ``s3://bucket/prefix`` and other fsspec URLs; ``file://`` counts as a local path."""
    text = os.fspath(root)
    return "://" in text and not text.startswith("file://")


def local_path(root: str | os.PathLike) -> Path:
    """Return a folder root as a path (a ``file://`` URL included)."""
    return Path(os.fspath(root).removeprefix("file://"))


def open_storage(root: str | os.PathLike) -> LocalStorage | ObjectStorage:
    """Return the storage of a lake root: a folder path or an object-store URL."""
    return ObjectStorage(os.fspath(root)) if is_url(root) else LocalStorage(local_path(root))


def redact(text: str) -> str:
    """Replace the endpoint and credentials found in ``text`` by the names of their variables."""
    for name in SECRET_VARS:
        value = os.environ.get(name)
        if value:
            text = text.replace(value, f"<{name}>")
            if name == "AWS_ENDPOINT_URL":  # botocore may quote the host without the scheme
                text = text.replace(value.split("://", 1)[-1].rstrip("/"), f"<{name}>")
    return text


def _day(folder_name: str) -> str:
    return folder_name.removeprefix("date=")


class LocalStorage:
    """A lake in a local folder; the folder also holds its catalog, runs and reports."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = str(root)
        self.local_root = root

    def exists(self) -> bool:
        return self.root.exists()

    def uri(self, rel: str) -> str:
        return str(self.root / rel)

    def files(self, folder: str, first_day: str | None = None, last_day: str | None = None) -> list[Path]:
        """Committed Parquet files of ``folder``'s ``date=`` partitions in [first_day, last_day], in order."""
        base = self.root / folder
        if not base.is_dir():
            return []
        out = []
        for part in sorted(base.glob("date=*")):
            day = _day(part.name)
            if (first_day is None or day >= first_day) and (last_day is None or day <= last_day):
                out.extend(sorted(part.glob("*.parquet")))
        return out

    def days(self, folder: str) -> list[str]:
        base = self.root / folder
        return sorted(_day(p.name) for p in base.glob("date=*")) if base.is_dir() else []

    def has_files(self, folder: str) -> bool:
        base = self.root / folder
        return base.is_dir() and any(base.rglob("*.parquet"))

    def write(self, rel: str, write: Writer) -> None:
        write_atomic(self.root / rel, write)

    def size(self, file: Path) -> int:
        return file.stat().st_size

    def open(self, file: Path) -> BinaryIO:
        return open(file, "rb")

    def leftovers(self, folder: str) -> list[str]:
        """Temp files of writers that died (never globbed by readers)."""
        base = self.root / folder
        return [str(p) for p in base.rglob(f"{TMP_PREFIX}*")] if base.exists() else []

    def attach(self, con: duckdb.DuckDBPyConnection) -> None:
        """Nothing to do: DuckDB reads local files itself."""


class ObjectStorage:
    """A lake under an object-store URL, read and written through fsspec.

    Its catalog, runs and reports live in a local folder named after a hash of the URL, under
    ``$SHOAL_CATALOG_DIR`` (default ``~/.cache/shoal/catalogs``); `engine.store.catalog_sync`
    keeps a copy of the catalog next to the objects.
    """

    def __init__(self, url: str) -> None:
        import fsspec

        self.url = url.rstrip("/")
        try:
            self.fs, self.base = fsspec.core.url_to_fs(  # own instance: the endpoint comes from the environment
                self.url, use_listings_cache=False, skip_instance_cache=True)
        except ImportError as e:
            msg = (f"cannot open the lake {self.url!r}: {e}. "
                   "Hint: s3:// lakes need s3fs, installed by pip install 'shoal[scale]'")
            raise LakeError(msg) from None
        except ValueError as e:
            msg = f"cannot open the lake {self.url!r}: {redact(str(e))}. Hint: use s3://bucket/prefix"
            raise LakeError(msg) from None
        self.local_root = catalogs_root() / hashlib.sha256(self.url.encode()).hexdigest()[:16]
        self._sizes: dict[str, int] = {}

    def exists(self) -> bool:
        with self.errors("list"):
            return bool(self.fs.exists(self.base))

    def uri(self, rel: str) -> str:
        return f"{self.url}/{rel}"

    def _key(self, rel: str) -> str:
        return posixpath.join(self.base, rel)

    def _find(self, folder: str) -> dict[str, dict]:
        """Every object under ``folder`` (one paginated LIST), keyed by bucket path."""
        with self.errors("list"):
            found = self.fs.find(self._key(folder), detail=True)
        self._sizes.update({self.fs.unstrip_protocol(p): int(info["size"]) for p, info in found.items()})
        return found

    def _parquet(self, folder: str) -> Iterator[tuple[str, str]]:
        """(day, URL) of each committed Parquet object in ``folder``'s ``date=`` partitions."""
        for path in self._find(folder):
            part, name = posixpath.split(path)
            if name.endswith(".parquet") and posixpath.basename(part).startswith("date="):
                yield _day(posixpath.basename(part)), self.fs.unstrip_protocol(path)

    def files(self, folder: str, first_day: str | None = None, last_day: str | None = None) -> list[str]:
        """Committed Parquet objects of ``folder``'s ``date=`` partitions in [first_day, last_day], in order."""
        return sorted(url for day, url in self._parquet(folder)
                      if (first_day is None or day >= first_day) and (last_day is None or day <= last_day))

    def days(self, folder: str) -> list[str]:
        return sorted({day for day, _ in self._parquet(folder)})

    def has_files(self, folder: str) -> bool:
        return any(True for _ in self._parquet(folder))

    def write(self, rel: str, write: Writer) -> None:
        """Build the whole file in memory, then store it with one put under its final key."""
        buf = io.BytesIO()
        write(buf)
        with self.errors("write to"):
            self.fs.pipe_file(self._key(rel), buf.getvalue())

    def size(self, file: str) -> int:
        if file not in self._sizes:
            with self.errors("read"):
                self._sizes[file] = int(self.fs.size(file))
        return self._sizes[file]

    def open(self, file: str) -> BinaryIO:
        with self.errors("read"):
            return self.fs.open(file, "rb")

    def leftovers(self, folder: str) -> list[str]:
        """Objects named like a local temp file: writes never make them here, so a non-empty answer is a bug."""
        return [self.fs.unstrip_protocol(p) for p in self._find(folder)
                if posixpath.basename(p).startswith(TMP_PREFIX)]

    def attach(self, con: duckdb.DuckDBPyConnection) -> None:
        """Let DuckDB read the objects through fsspec (its httpfs extension may not be installable)."""
        con.register_filesystem(self.fs)

    def get(self, rel: str, local: Path) -> str | None:
        """Download ``rel`` to ``local`` (atomically); return its ETag, or None when it does not exist."""
        key = self._key(rel)
        with self.errors("read"):
            try:
                etag = self.fs.info(key)["ETag"]
            except FileNotFoundError:
                return None
            data = self.fs.cat_file(key)
        write_atomic(local, lambda tmp: tmp.write_bytes(data))
        return etag

    def etag(self, rel: str) -> str | None:
        """The ETag of ``rel``, or None when it does not exist."""
        with self.errors("read"):
            try:
                return self.fs.info(self._key(rel))["ETag"]
            except FileNotFoundError:
                return None

    def put(self, rel: str, local: Path) -> str:
        """Upload a local file with one put; return its new ETag."""
        data = local.read_bytes()
        with self.errors("write to"):
            self.fs.pipe_file(self._key(rel), data)
            return self.fs.info(self._key(rel))["ETag"]

    @contextmanager
    def errors(self, action: str) -> Iterator[None]:
        """Turn the store's errors into a `LakeError` that names the lake, never the endpoint or keys."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except (OSError, BotoCoreError, ClientError) as e:
            msg = f"cannot {action} the lake {self.url!r}: {redact(f'{type(e).__name__}: {e}')}. {CREDENTIALS_HINT}"
            raise LakeError(msg) from None


def catalogs_root() -> Path:
    """Where remote lakes keep their local catalog: ``$SHOAL_CATALOG_DIR``, else ``~/.cache/shoal/catalogs``."""
    env = os.environ.get("SHOAL_CATALOG_DIR")
    return Path(env) if env else cache_root() / "catalogs"
