"""The lake on object storage, against a real S3-compatible server (moto) on 127.0.0.1."""

from __future__ import annotations

import os
import posixpath
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
import s3fs

from engine.errors import LakeError
from engine.layout import EventKind
from engine.schema import Tape
from engine.store import registry
from engine.store.atomic import TMP_PREFIX
from engine.store.catalog import opened, refresh_views
from engine.store.inspect import lake_check, lake_info
from engine.store.lake import QUARANTINE, Lake
from tests.engine.store.test_lake import DAY0_NS, swaps_and_states
from tests.moto_s3 import new_bucket, s3_server

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def server() -> Iterator[dict[str, str]]:
    with s3_server() as env:
        yield env


@pytest.fixture
def s3(server: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A lake URL in a fresh bucket, with this test's own folder of local catalogs."""
    for name, value in server.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SHOAL_CATALOG_DIR", str(tmp_path / "machine-a"))
    return f"s3://{new_bucket(server)}/research/lake"


def objects(url: str) -> dict[str, str]:
    """Every object under ``url``: key relative to it -> ETag, listed by a client of our own."""
    fs = s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False)
    base = url.removeprefix("s3://")
    return {posixpath.relpath(k, base): v["ETag"] for k, v in fs.find(base, detail=True).items()}


def test_ingest_into_s3_reads_back_the_same_events_as_a_local_lake(s3: str, tmp_path: Path) -> None:
    # Arrange
    tape = swaps_and_states(5_000, days=3)
    remote, local = Lake(s3), Lake(tmp_path / "local")
    # Act
    report = remote.ingest(tape, source="test")
    local.ingest(tape, source="test")
    # Assert
    assert report.n_written == tape.n_events and report.files == 6
    assert remote.read_tape().equals(tape)
    window = {"start_ts_ns": DAY0_NS + 86_400 * 10**9, "stop_ts_ns": DAY0_NS + 2 * 86_400 * 10**9, "pool_ids": [3]}
    assert remote.read("swaps", **window).equals(local.read("swaps", **window))
    assert remote.days("swaps") == local.days("swaps") == ["2026-01-01", "2026-01-02", "2026-01-03"]
    keys = sorted(objects(s3))
    assert [posixpath.dirname(k) for k in keys] == sorted(
        str(f.parent.relative_to(local.root)) for t in ("pool_states", "swaps") for f in local.files(t))
    assert not any(remote.root.rglob("*.parquet"))  # nothing of the tables lands on local disk


def test_reingesting_into_s3_writes_no_object(s3: str) -> None:
    # Arrange
    tape = swaps_and_states(3_000, days=2)
    bad = Tape.from_columns(slot=[5], seq=[0], ts_ns=[DAY0_NS], kind=[EventKind.SWAP], pool_id=[1], wallet_id=[1],
                            mint_id=[0], side=[0], vals=[[np.nan, 1, 0, 0, 0]])
    lake = Lake(s3)
    lake.ingest(tape, source="test")
    lake.ingest(bad, source="test")
    before = objects(s3)
    # Act
    again = Lake(s3).ingest(tape, source="test")
    bad_again = Lake(s3).ingest(bad, source="test")
    # Assert
    assert again.n_written == 0 and sum(again.already_present.values()) == tape.n_events and again.files == 0
    assert bad_again.n_quarantined == 1
    assert objects(s3) == before
    assert Lake(s3).read(QUARANTINE).height == 1


def test_a_write_that_fails_before_its_put_leaves_no_object(s3: str) -> None:
    lake = Lake(s3)
    frame = swaps_and_states(100).to_tables()["swaps"]

    def build_then_die(out) -> None:
        frame.write_parquet(out)  # the whole file is built ...
        raise RuntimeError("writer stopped")  # ... and the writer stops before storing it

    with pytest.raises(RuntimeError, match="writer stopped"):
        lake.storage.write("lake/swaps/date=2026-01-01/part-000000000000-dead.parquet", build_then_die)
    assert objects(s3) == {}
    assert lake.files("swaps") == [] and lake.read("swaps").height == 0


WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    from engine.layout import EventKind
    from engine.schema import Tape
    from engine.store.lake import Lake

    lake = Lake(sys.argv[1])
    rng = np.random.default_rng(0)
    n = 50_000
    for batch in range(10_000):
        slot = batch * 1_000 + np.sort(rng.integers(0, 1_000, n))
        tape = Tape.from_columns(slot=slot, seq=np.arange(n), ts_ns=1_767_225_600 * 10**9 + slot * 400_000_000,
                                 kind=np.full(n, EventKind.SWAP), pool_id=rng.integers(0, 9, n),
                                 wallet_id=np.ones(n), mint_id=np.zeros(n), side=np.zeros(n),
                                 vals=np.column_stack([rng.integers(1, 10**9, (n, 2)), np.zeros((n, 3))]))
        report = lake.ingest(tape, source="writer")
        print(report.n_written, flush=True)
""")


@pytest.mark.slow
def test_a_writer_killed_mid_write_leaves_only_whole_objects_and_loses_nothing_committed(
        s3: str, tmp_path: Path) -> None:
    # Arrange: a real writer process on the same server, killed with SIGKILL after a few committed batches
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    proc = subprocess.Popen([sys.executable, str(script), s3], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    committed = sum(int(proc.stdout.readline()) for _ in range(3))
    time.sleep(np.random.default_rng().uniform(0.0, 0.3))  # somewhere inside a later build or put
    # Act
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    committed += sum(int(x) for x in proc.stdout.read().split())
    # Assert: every visible object is a whole Parquet file, and every reported batch is there
    keys = objects(s3)
    assert keys and all(k.startswith("lake/swaps/date=") and k.endswith(".parquet") for k in keys)
    assert not any(posixpath.basename(k).startswith(TMP_PREFIX) for k in keys)
    lake = Lake(s3)
    for f in lake.files("swaps"):
        with lake.storage.open(f) as fh:
            assert pq.read_metadata(fh).num_rows > 0
    stored = lake.read("swaps")
    assert stored.height >= committed >= 150_000
    assert stored.select(["slot", "ix"]).is_unique().all()
    with opened(lake) as con:
        report = lake_check(lake, con)
    assert report["ok"] and {c["check"]: c["count"] for c in report["checks"]}["no_leftover_temp_files"] == 0


def test_duckdb_views_read_the_objects_while_the_catalog_stays_local(s3: str, tmp_path: Path) -> None:
    # Arrange
    lake = Lake(s3)
    lake.ingest(swaps_and_states(2_000, days=2), source="test")
    # Act
    with opened(lake) as con:
        rows, days = con.execute("SELECT count(*), count(DISTINCT date) FROM swaps").fetchone()
        info = lake_info(lake, con)
    # Assert
    assert rows == lake.read("swaps").height and days == 2
    assert lake.catalog_path.is_file() and lake.catalog_path.is_relative_to(tmp_path / "machine-a")
    assert info["lake"] == s3 and {t["table"] for t in info["tables"]} == {"swaps", "pool_states"}
    assert sum(t["bytes"] for t in info["tables"]) == sum(
        v for k, v in s3fs.S3FileSystem(skip_instance_cache=True).du(s3, total=False).items()
        if k.endswith(".parquet"))
    assert "shoal.duckdb" in objects(s3)  # published next to the objects


def test_a_second_machine_gets_the_registries_from_the_bucket(s3: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # Arrange: machine A registers pools and lands events
    pools = pl.DataFrame({"address": [f"pool{i}" for i in range(20)], "venue": ["raydium"] * 20})
    lake_a = Lake(s3)
    with opened(lake_a) as con:
        registry.sync(con, "pools", pools)
        lake_a.ingest(swaps_and_states(1_000), source="test", n_pools=20)
        refresh_views(con, lake_a)
    published = objects(s3)["shoal.duckdb"]
    # Act: machine B, with an empty local cache, opens the same URL, reads, and closes
    monkeypatch.setenv("SHOAL_CATALOG_DIR", str(tmp_path / "machine-b"))
    lake_b = Lake(s3)
    with opened(lake_b) as con:
        got = registry.read(con, "pools")
        rows = con.execute("SELECT count(*) FROM swaps").fetchone()[0]
    # Assert
    assert lake_b.root != lake_a.root and lake_b.catalog_path.is_relative_to(tmp_path / "machine-b")
    assert got["address"].to_list() == pools["address"].to_list()
    assert rows == lake_a.read("swaps").height
    assert objects(s3)["shoal.duckdb"] == published  # a session that only read publishes nothing


def test_two_machines_writing_the_catalog_at_once_are_refused(s3: str, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # Arrange
    lake_a = Lake(s3)
    with opened(lake_a) as con:
        registry.sync(con, "wallets", pl.DataFrame({"address": ["w0"]}))
    monkeypatch.setenv("SHOAL_CATALOG_DIR", str(tmp_path / "machine-b"))
    lake_b = Lake(s3)
    # Act: B publishes while A's session is still open, then A closes
    with pytest.raises(LakeError, match="two writers") as err, opened(lake_a) as con_a:
        registry.sync(con_a, "wallets", pl.DataFrame({"address": ["from-a"]}), full=False)
        with opened(lake_b) as con_b:
            registry.sync(con_b, "wallets", pl.DataFrame({"address": ["from-b"]}), full=False)
    # Assert: the bucket keeps B's catalog, and the error says how to recover
    assert str(lake_a.root) in str(err.value)
    monkeypatch.setenv("SHOAL_CATALOG_DIR", str(tmp_path / "machine-c"))
    with opened(Lake(s3)) as con:
        assert registry.read(con, "wallets")["address"].to_list() == ["w0", "from-b"]


def test_errors_name_the_lake_but_never_the_endpoint_or_credentials(s3: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:  # a port where nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    with pytest.raises(LakeError) as err:
        Lake(s3).read_tape()
    text = str(err.value)
    assert s3 in text and "AWS_ENDPOINT_URL" in text
    assert str(port) not in text and os.environ["AWS_ACCESS_KEY_ID"] not in text
    assert os.environ["AWS_SECRET_ACCESS_KEY"] not in text and err.value.__suppress_context__
