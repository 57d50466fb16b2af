"""The blob store interface, on both backends: the filesystem and an S3 bucket on a real local S3 server.

Every contract test runs once per backend (``store`` is parametrized); the S3 one goes through boto3 over
HTTP to moto's server mode. The API test at the end runs the cloud with each backend configured by
``ECOGATE_BLOB_URL``'s setting and stores and serves a vehicle document through it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from cloud.blobs import (
    STANDARD,
    BlobConfigError,
    Blobs,
    BlobStore,
    FileBlobStore,
    S3BlobStore,
    S3Location,
    open_store,
    parse_url,
)
from cloud.cli.backup import copy_blobs
from cloud.settings import BlobSettings, Settings
from hj1321.identifiers import vin_check_digit
from tests.cloud.api.test_vehicles import PNG, transport
from tests.cloud.s3_kit import S3Server, moto_s3

BACKENDS = ["filesystem", "s3"]


@pytest.fixture(name="s3", scope="module")
def fx_s3() -> Iterator[S3Server]:
    with moto_s3() as server:
        yield server


@pytest.fixture(name="store", params=BACKENDS)
def fx_store(request: pytest.FixtureRequest, tmp_path: Path) -> Blobs:
    """A fresh, empty store of each backend, built from settings as the application builds it."""
    if request.param == "filesystem":
        return open_store(BlobSettings(root=tmp_path / "blobs"))
    s3: S3Server = request.getfixturevalue("s3")
    return open_store(BlobSettings(root=tmp_path / "unused", url=s3.url(s3.new_bucket())))


def test_put_get_has_delete(store: Blobs) -> None:
    data = b"\xff\xd8\xff photo bytes " + os.urandom(64)
    digest = store.put(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert store.has(digest)
    assert store.get(digest) == data
    assert store.put(data) == digest  # idempotent
    assert store.delete(digest) is True
    assert not store.has(digest)
    assert store.delete(digest) is False
    with pytest.raises(FileNotFoundError):
        store.get(digest)


def test_absent_objects(store: Blobs) -> None:
    digest = hashlib.sha256(b"never stored").hexdigest()
    assert not store.has(digest)
    assert store.storage_class(digest) is None
    with pytest.raises(FileNotFoundError):
        store.get(digest)
    with pytest.raises(FileNotFoundError):
        store.set_storage_class(digest, store.cold_class)


def test_empty_large_and_concurrent_objects(store: Blobs) -> None:
    assert store.get(store.put(b"")) == b""
    big = os.urandom(6 * 1024 * 1024)  # a video clip
    assert store.get(store.put(big)) == big
    same = b"the same photo from eight agents"
    with ThreadPoolExecutor(8) as pool:
        digests = set(pool.map(lambda _: store.put(same), range(16)))
    assert digests == {hashlib.sha256(same).hexdigest()}
    assert store.get(digests.pop()) == same


def test_storage_classes(store: Blobs) -> None:
    data = b"an old photo past the hot period"
    digest = store.put(data)
    assert store.storage_class(digest) == STANDARD
    assert store.set_storage_class(digest, store.cold_class) is True
    assert store.storage_class(digest) == store.cold_class
    assert store.set_storage_class(digest, store.cold_class) is False  # already there
    assert store.get(digest) == data  # still readable at once
    assert store.has(digest)
    assert store.put(data) == digest  # a second put leaves it cold
    assert store.storage_class(digest) == store.cold_class
    assert store.set_storage_class(digest, STANDARD) is True
    assert store.storage_class(digest) == STANDARD
    store.set_storage_class(digest, store.cold_class)
    assert store.delete(digest) is True
    assert store.storage_class(digest) is None


def test_digests_list_every_object_of_both_tiers(store: Blobs) -> None:
    digests = {store.put(f"object {i}".encode()) for i in range(3)}
    store.set_storage_class(min(digests), store.cold_class)
    assert set(store.digests()) == digests


@pytest.mark.parametrize("backend", BACKENDS)
def test_backup_copies_the_configured_store_incrementally(backend: str, tmp_path: Path, request: Any) -> None:
    """``ecogate backup run``'s blob step: a bucket is copied through list + get, a folder file by file."""
    if backend == "filesystem":
        settings = BlobSettings(root=tmp_path / "blobs")
    else:
        s3: S3Server = request.getfixturevalue("s3")
        bucket = s3.new_bucket()
        settings = BlobSettings(root=tmp_path / "unused", url=s3.url(bucket, "media/"))
        # A key that is not an object of ours (another tool's file under the prefix) is left alone.
        s3.client().put_object(Bucket=bucket, Key="media/README.txt", Body=b"not a blob")
    store = open_store(settings)
    first = {store.put(f"photo {i}".encode()): f"photo {i}".encode() for i in range(3)}
    store.set_storage_class(min(first), store.cold_class)
    target = tmp_path / "backup" / "blobs"
    copied, present, where = copy_blobs(settings, target)
    assert (copied, present) == (3, 0)
    assert where.startswith("s3://" if backend == "s3" else str(tmp_path))
    later = store.put(b"a photo stored after the first backup")
    assert copy_blobs(settings, target)[:2] == (1, 3)  # incremental by name
    copy = BlobStore(target)
    for digest, data in {**first, later: b"a photo stored after the first backup"}.items():
        assert copy.get(digest) == data


def test_the_s3_backend_writes_real_objects(s3: S3Server) -> None:
    bucket = s3.new_bucket()
    store = open_store(BlobSettings(url=s3.url(bucket, "media/", cold_class="GLACIER_IR")))
    assert isinstance(store, S3BlobStore)
    digest = store.put(b"scene")
    client = s3.client()
    head = client.head_object(Bucket=bucket, Key=f"media/{digest}")
    assert head["ContentLength"] == len(b"scene")
    store.set_storage_class(digest, store.cold_class)
    assert client.head_object(Bucket=bucket, Key=f"media/{digest}")["StorageClass"] == "GLACIER_IR"


def test_the_filesystem_cold_tier_is_a_folder(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    assert isinstance(store, FileBlobStore)
    digest = store.put(b"photo")
    store.set_storage_class(digest, store.cold_class)
    assert not store.path_for(digest).exists()
    assert store.cold_path_for(digest).read_bytes() == b"photo"


def test_blob_urls() -> None:
    assert parse_url("") is None
    assert parse_url("file:///srv/blobs") == Path("/srv/blobs")
    location = parse_url(
        "s3://ecogate-prod/media?endpoint=https://oss-cn-hangzhou.aliyuncs.com&region=cn-hangzhou"
        "&addressing=virtual&cold_class=IA"
    )
    assert location == S3Location(
        bucket="ecogate-prod",
        prefix="media/",
        endpoint_url="https://oss-cn-hangzhou.aliyuncs.com",
        region="cn-hangzhou",
        addressing="virtual",
        cold_class="IA",
    )
    assert parse_url("s3://bucket") == S3Location(bucket="bucket")
    for bad in ("gs://bucket", "s3:///prefix", "s3://bucket?addressing=sideways"):
        with pytest.raises(BlobConfigError):
            parse_url(bad)
    assert isinstance(open_store(BlobSettings(root=Path("/nonexistent"))), FileBlobStore)


@pytest.fixture(name="settings", params=BACKENDS)
def fx_backend_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """The cloud's test settings with each backend (the conftest's filesystem one, or an S3 bucket)."""
    if request.param == "filesystem":
        return settings
    s3: S3Server = request.getfixturevalue("s3")
    return dataclasses.replace(settings, blobs=dataclasses.replace(settings.blobs, url=s3.url(s3.new_bucket())))


@pytest.mark.anyio
async def test_the_application_stores_and_serves_through_the_configured_backend(
    app: Any, client: Any, settings: Settings, make_tenant: Any, login_as: Any
) -> None:
    """A vehicle document goes into the configured store and comes back through the API; tenants stay apart."""
    store = app.state.blobs
    assert isinstance(store, S3BlobStore if settings.blobs.url else FileBlobStore)
    headers = await login_as((await make_tenant()).admin_login)
    vin = "LZZ5BLSX0A0004242"
    vin = vin[:8] + vin_check_digit(vin) + vin[9:]
    created = await client.post("/api/v1/vehicles", json=transport(vin), headers=headers)
    assert created.status_code == 201, created.text
    url = f"/api/v1/vehicles/{created.json()['id']}/documents"
    upload = await client.post(
        url, data={"kind": "driving_license"}, files={"file": ("xsz.png", PNG, "image/png")}, headers=headers
    )
    assert upload.status_code == 201, upload.text
    digest = hashlib.sha256(PNG).hexdigest()
    assert store.get(digest) == PNG  # in the configured backend
    served = await client.get(f"/api/v1/blobs/{digest}", headers=headers)
    assert served.status_code == 200
    assert served.content == PNG
    other = await login_as((await make_tenant()).admin_login)
    assert (await client.get(f"/api/v1/blobs/{digest}", headers=other)).status_code == 404
