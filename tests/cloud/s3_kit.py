"""A real local S3 server for the S3 blob backend's tests: moto's server mode over TCP (issue 20).

``moto_s3()`` starts ``ThreadedMotoServer`` on a free port of 127.0.0.1; the code under test reaches it
through boto3 and HTTP like any S3-compatible endpoint. Credentials are moto's dummy ones, passed the
standard way (the ``AWS_*`` environment variables), never in the URL.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "ecogate-test",
    "AWS_SECRET_ACCESS_KEY": "ecogate-test-secret",
    "AWS_DEFAULT_REGION": "cn-hangzhou",
}


@dataclass(frozen=True)
class S3Server:
    """A running moto S3 endpoint."""

    endpoint: str

    def url(self, bucket: str, prefix: str = "blobs", **options: str) -> str:
        """An ``ECOGATE_BLOB_URL`` for ``bucket`` on this endpoint (path-style addressing, as MinIO)."""
        query = "&".join(f"{k}={v}" for k, v in {"endpoint": self.endpoint, "addressing": "path", **options}.items())
        return f"s3://{bucket}/{prefix}?{query}"

    def client(self) -> Any:
        """A plain boto3 client on the endpoint (to look at what the store wrote)."""
        import boto3  # noqa: PLC0415

        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def new_bucket(self) -> str:
        """A fresh bucket (one per test: tests do not see each other's objects)."""
        name = f"ecogate-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(
            Bucket=name, CreateBucketConfiguration={"LocationConstraint": CREDENTIALS["AWS_DEFAULT_REGION"]}
        )
        return name


@contextmanager
def moto_s3() -> Iterator[S3Server]:
    """Run moto's S3 server in a thread of this process, with the dummy credentials in the environment."""
    from moto.server import ThreadedMotoServer  # noqa: PLC0415

    saved = {k: os.environ.get(k) for k in CREDENTIALS}
    os.environ.update(CREDENTIALS)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield S3Server(f"http://{host}:{port}")
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
