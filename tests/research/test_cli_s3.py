"""`shoal ... --lake s3://bucket/prefix` as a user runs it, against a real S3-compatible server (moto)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import s3fs

from engine.store.catalog import opened
from engine.store.inspect import lake_info
from engine.store.lake import Lake
from tests.moto_s3 import new_bucket, s3_server

ROOT = Path(__file__).resolve().parents[2]
SEED = ("--days", "0.05", "--tokens", "3", "--seed", "5")


def shoal(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "research.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          check=False, env={**os.environ, **env})


class Lakes:
    """One market generated twice, into a bucket and into a local folder."""

    def __init__(self, env: dict[str, str], url: str, local: Path, first: dict) -> None:
        self.env, self.url, self.local, self.first = env, url, local, first

    def parquet_objects(self) -> dict[str, str]:
        fs = s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False,
                               endpoint_url=self.env["AWS_ENDPOINT_URL"], key=self.env["AWS_ACCESS_KEY_ID"],
                               secret=self.env["AWS_SECRET_ACCESS_KEY"])
        found = fs.find(self.url.removeprefix("s3://"), detail=True)
        return {k: v["ETag"] for k, v in found.items() if k.endswith(".parquet")}


@pytest.fixture(scope="module")
def lakes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lakes]:
    tmp = tmp_path_factory.mktemp("s3cli")
    with s3_server() as server:
        env = {**server, "SHOAL_CATALOG_DIR": str(tmp / "catalogs")}
        url = f"s3://{new_bucket(server)}/team/lake"
        out = shoal("generate", *SEED, "--lake", url, "--json", env=env)
        assert out.returncode == 0, out.stderr
        local = shoal("generate", *SEED, "--lake", str(tmp / "local"), "--json", env=env)
        assert local.returncode == 0, local.stderr
        yield Lakes(env, url, tmp / "local", json.loads(out.stdout))


def test_lake_info_on_s3_matches_the_same_market_in_a_local_lake(lakes: Lakes) -> None:
    # Act
    remote = shoal("lake", "info", "--lake", lakes.url, "--json", env=lakes.env)
    with opened(Lake(lakes.local)) as con:
        want = lake_info(Lake(lakes.local), con)
    # Assert
    assert remote.returncode == 0, remote.stderr
    got = json.loads(remote.stdout)
    assert got["lake"] == lakes.url and got["catalog"].startswith(lakes.env["SHOAL_CATALOG_DIR"])
    assert got["tables"] == want["tables"] and got["registries"] == want["registries"]
    assert sum(t["rows"] for t in got["tables"]) == lakes.first["events"]
    table = shoal("lake", "info", "--lake", lakes.url, env=lakes.env)
    assert table.returncode == 0 and f"lake {lakes.url}" in table.stdout and "swaps" in table.stdout


def test_lake_check_on_s3_passes_with_no_leftover_objects(lakes: Lakes) -> None:
    out = shoal("lake", "check", "--lake", lakes.url, "--json", env=lakes.env)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["ok"] is True and report["lake"] == lakes.url
    checks = {(c["check"], c["table"]): c for c in report["checks"]}
    assert checks[("no_leftover_temp_files", "*")]["count"] == 0
    assert checks[("files_readable", "swaps")]["ok"] and checks[("keys_unique", "swaps")]["ok"]


def test_generating_the_same_market_into_s3_again_writes_no_object(lakes: Lakes) -> None:
    before = lakes.parquet_objects()
    out = shoal("generate", *SEED, "--lake", lakes.url, "--json", env=lakes.env)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert all(t["written"] == 0 for t in doc["tables"].values())
    assert {n: t["already_present"] for n, t in doc["tables"].items()} == {
        n: t["written"] for n, t in lakes.first["tables"].items()}
    assert lakes.parquet_objects() == before


def test_a_backtest_on_another_machine_reading_s3_equals_one_on_the_local_lake(lakes: Lakes, tmp_path: Path) -> None:
    # Arrange: a machine that never saw the lake: its registries come from the bucket's catalog
    fresh = {**lakes.env, "SHOAL_CATALOG_DIR": str(tmp_path / "other-machine")}
    args = ("backtest", "--strategy", "sniper", "--param", "min_liquidity_lamports=1e9", "--json")
    # Act
    remote = shoal(*args, "--lake", lakes.url, env=fresh)
    local = shoal(*args, "--lake", str(lakes.local), env=lakes.env)
    # Assert
    assert remote.returncode == 0, remote.stderr
    assert local.returncode == 0, local.stderr
    got, want = json.loads(remote.stdout), json.loads(local.stdout)
    assert got["data"]["events"] == want["data"]["events"] > 5_000
    assert got["summary"] == want["summary"]


def test_a_missing_or_unreachable_s3_lake_is_a_one_line_error_without_secrets(lakes: Lakes) -> None:
    missing = shoal("lake", "info", "--lake", f"{lakes.url}-nothing-here", env=lakes.env)
    assert missing.returncode == 2 and "no lake at" in missing.stderr and "shoal generate" in missing.stderr
    with socket.socket() as sock:  # a port where nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = shoal("lake", "check", "--lake", lakes.url, env={**lakes.env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"})
    assert down.returncode == 2 and "Traceback" not in down.stderr
    assert lakes.url in down.stderr and "AWS_ENDPOINT_URL" in down.stderr
    for secret in (str(port), lakes.env["AWS_ACCESS_KEY_ID"], lakes.env["AWS_SECRET_ACCESS_KEY"]):
        assert secret not in down.stderr
