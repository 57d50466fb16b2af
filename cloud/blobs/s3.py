"""The S3-compatible blob backend (issue 20): AWS S3, Alibaba Cloud OSS, MinIO — through boto3.

Objects are keys ``<prefix><sha256>`` in one bucket. ``put`` asks first whether the object is there
(content-addressed: a second put of the same bytes is a no-op and must not reset a cold object to the hot
class), then uploads with a Content-MD5 the server checks, so a corrupted upload never becomes an object.
Storage classes are the provider's names: S3 ``STANDARD_IA`` / ``GLACIER_IR`` (both read at once), OSS
``IA`` / ``Archive`` (an OSS Archive object must be restored before it can be read: the retention default is
the infrequent-access class, docs/operations.md). A class change is a server-side copy onto the same key.

boto3 1.36+ adds CRC checksums to every request by default, which some S3-compatible stores (OSS among
them) refuse; the client sends them only where the API requires one.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cloud.blobs.base import STANDARD, is_digest


@dataclass(frozen=True)
class S3Location:
    """Where the objects are: bucket, key prefix, endpoint and the client's options."""

    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    #: ``path`` (MinIO, moto, most private endpoints) or ``virtual`` (OSS requires it; AWS prefers it).
    addressing: str = "auto"
    #: The class the retention job moves media past the hot period into.
    cold_class: str = "STANDARD_IA"


class S3BlobStore:
    """Blob store on an S3-compatible bucket (:class:`cloud.blobs.Blobs`).

    Credentials come the usual boto3 way (``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``, a profile, or an
    instance role); none is ever part of the settings URL.
    """

    def __init__(self, location: S3Location, client: Any | None = None) -> None:
        self.location = location
        self.cold_class = location.cold_class
        self._client = client if client is not None else make_client(location)

    def __repr__(self) -> str:
        return f"S3BlobStore(bucket={self.location.bucket!r}, prefix={self.location.prefix!r})"

    def key_for(self, sha256: str) -> str:
        """The object key of a digest."""
        return f"{self.location.prefix}{sha256}"

    def _head(self, sha256: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError  # noqa: PLC0415

        try:
            head: dict[str, Any] = self._client.head_object(Bucket=self.location.bucket, Key=self.key_for(sha256))
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        return head

    def put(self, data: bytes) -> str:
        """Store ``data`` and return its sha256 (idempotent)."""
        digest = hashlib.sha256(data).hexdigest()
        if self._head(digest) is not None:
            return digest
        self._client.put_object(
            Bucket=self.location.bucket,
            Key=self.key_for(digest),
            Body=data,
            ContentMD5=base64.b64encode(hashlib.md5(data).digest()).decode(),  # noqa: S324 - the protocol's check
            ContentType="application/octet-stream",
        )
        return digest

    def has(self, sha256: str) -> bool:
        """Whether the object is stored."""
        return self._head(sha256) is not None

    def get(self, sha256: str) -> bytes:
        """The object's bytes (FileNotFoundError when absent)."""
        from botocore.exceptions import ClientError  # noqa: PLC0415

        try:
            answer = self._client.get_object(Bucket=self.location.bucket, Key=self.key_for(sha256))
        except ClientError as exc:
            if _missing(exc):
                raise FileNotFoundError(sha256) from exc
            raise
        body: bytes = answer["Body"].read()
        return body

    def delete(self, sha256: str) -> bool:
        """Remove the object; False when it was not there (S3's DELETE does not say, so ask first)."""
        if self._head(sha256) is None:
            return False
        self._client.delete_object(Bucket=self.location.bucket, Key=self.key_for(sha256))
        return True

    def digests(self) -> Iterator[str]:
        """Every object's digest under the prefix (ListObjectsV2, 1,000 keys a page); other keys are skipped."""
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.location.bucket, Prefix=self.location.prefix
        )
        start = len(self.location.prefix)
        for page in pages:
            for item in page.get("Contents", ()):
                name = str(item["Key"])[start:]
                if is_digest(name):
                    yield name

    def storage_class(self, sha256: str) -> str | None:
        """The object's class (S3 omits it for ``STANDARD``), None when absent."""
        head = self._head(sha256)
        if head is None:
            return None
        return str(head.get("StorageClass") or STANDARD)

    def set_storage_class(self, sha256: str, storage_class: str) -> bool:
        """Copy the object onto itself with the new class (server side); True when the class changed.

        Raises:
            FileNotFoundError: the object is not stored.
        """
        current = self.storage_class(sha256)
        if current is None:
            raise FileNotFoundError(sha256)
        if current == storage_class:
            return False
        key = self.key_for(sha256)
        self._client.copy_object(
            Bucket=self.location.bucket,
            Key=key,
            CopySource={"Bucket": self.location.bucket, "Key": key},
            StorageClass=storage_class,
            MetadataDirective="COPY",
        )
        return True


def _missing(exc: Any) -> bool:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return str(error.get("Code")) in {"404", "NoSuchKey", "NotFound"} or status == 404


def make_client(location: S3Location) -> Any:
    """A boto3 S3 client for the location (thread-safe; one per store)."""
    import boto3  # noqa: PLC0415
    from botocore.config import Config  # noqa: PLC0415

    config = Config(
        s3={"addressing_style": location.addressing},
        signature_version="s3v4",
        retries={"max_attempts": 5, "mode": "standard"},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        max_pool_connections=32,
    )
    return boto3.session.Session().client(
        "s3", endpoint_url=location.endpoint_url, region_name=location.region, config=config
    )
