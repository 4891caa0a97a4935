"""A real S3-compatible server (moto's server mode) on 127.0.0.1, for the object-storage lake tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def s3_server() -> Iterator[dict[str, str]]:
    """Start moto on a free loopback port; yield the environment that points AWS clients at it."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield {"AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "shoal-test-key-id",
               "AWS_SECRET_ACCESS_KEY": "shoal-test-secret", "AWS_REGION": "us-east-1", "AWS_MAX_ATTEMPTS": "1"}
    finally:
        server.stop()


def new_bucket(env: dict[str, str]) -> str:
    """Create a bucket with a fresh name (polars caches its S3 clients per bucket) and return the name."""
    import boto3

    name = f"lake-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                 aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], region_name=env["AWS_REGION"],
                 ).create_bucket(Bucket=name)
    return name
