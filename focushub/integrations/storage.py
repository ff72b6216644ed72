"""Object storage: local disk by default, any S3-compatible store when configured.

Keys are chosen by the server (``<purpose>/<random hex>``), never taken from a
client's file name. Both backends stream: :meth:`ObjectStore.put_file` reads a
local (temporary) file in chunks, :meth:`ObjectStore.read` yields chunks, so no
whole file is ever held in memory.

* :class:`LocalStore` keeps objects under ``<FOCUSHUB_DATA_DIR>/files/``; a put
  writes a partial file beside the target and renames it, so a reader never
  sees half an object (partial files are listed too: one that a crash left is
  named by no row, and the sweep removes it).
* :class:`S3Store` speaks S3 through boto3 (AWS S3, MinIO, Cloudflare R2,
  Supabase Storage's S3 endpoint); boto3's blocking calls run in worker threads.
  Uploads use boto3's managed transfer without threads, one 8 MiB part at a time.

:func:`open_store` picks the backend from the settings.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import anyio

CHUNK = 256 * 1024


class ObjectMissing(Exception):
    """The key names no object."""


class StorageUnavailable(Exception):
    """The store cannot be reached (connection refused or reset, timed out) or says it is
    unavailable, after the client's own retries: the request may be tried again later."""


@contextlib.contextmanager
def _reachable() -> Iterator[None]:
    """Raise :class:`StorageUnavailable` for what means the S3 endpoint is away."""
    from botocore.exceptions import ClientError, HTTPClientError
    from botocore.exceptions import ConnectionError as EndpointUnreachable

    try:
        yield
    except (EndpointUnreachable, HTTPClientError) as exc:
        raise StorageUnavailable(str(exc)) from exc
    except ClientError as exc:
        if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 503:
            raise StorageUnavailable(str(exc)) from exc
        raise


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    modified_at: datetime


class ObjectStore(Protocol):
    name: str

    async def put_file(self, key: str, path: Path, content_type: str) -> None:
        """Store the file at ``path`` under ``key`` (replacing any object there)."""

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        """Store a small object (a preview) under ``key``."""

    def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """The bytes ``start`` to ``end`` (inclusive; None: to the end) of ``key`` in chunks.
        Raises :class:`ObjectMissing` on the first iteration when there is no such object."""

    async def download(self, key: str, path: Path) -> None:
        """Copy the object to a local file (for jobs that need random access)."""

    async def delete(self, key: str) -> None:
        """Remove the object; no error when it is already gone."""

    async def exists(self, key: str) -> bool: ...

    def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        """Every object under ``prefix`` (for the orphan sweep)."""


def _check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"bad object key {key!r}")
    return key


class LocalStore:
    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key)

    async def put_file(self, key: str, path: Path, content_type: str) -> None:
        target = self._path(key)

        def copy() -> None:
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.partial")
            shutil.copyfile(path, partial)
            os.replace(partial, target)

        await anyio.to_thread.run_sync(copy)

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        target = self._path(key)

        def write() -> None:
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.partial")
            partial.write_bytes(data)
            os.replace(partial, target)

        await anyio.to_thread.run_sync(write)

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        try:
            handle = await anyio.open_file(self._path(key), "rb")
        except FileNotFoundError:
            raise ObjectMissing(key) from None
        async with handle:
            await handle.seek(start)
            left = None if end is None else end - start + 1
            while left is None or left > 0:
                chunk = await handle.read(CHUNK if left is None else min(CHUNK, left))
                if not chunk:
                    return
                if left is not None:
                    left -= len(chunk)
                yield chunk

    async def download(self, key: str, path: Path) -> None:
        source = self._path(key)
        if not source.exists():
            raise ObjectMissing(key)
        await anyio.to_thread.run_sync(shutil.copyfile, source, path)

    async def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            await anyio.to_thread.run_sync(self._path(key).unlink)

    async def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    async def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        def scan() -> list[ObjectInfo]:
            found: list[ObjectInfo] = []
            # Only the folder the prefix names is walked ("resource/ab" -> resource/).
            folder = self.root / prefix.rsplit("/", 1)[0] if "/" in prefix else self.root
            if not folder.is_dir():
                return found
            # Partial files (".<name>.partial") are listed too: one left by a process that
            # died mid-put is named by no row, and the sweep removes it after its grace.
            for path in folder.rglob("*"):
                if not path.is_file():
                    continue
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    stat = path.stat()
                    found.append(ObjectInfo(key, stat.st_size,
                                            datetime.fromtimestamp(stat.st_mtime, UTC)))
            return found

        for info in await anyio.to_thread.run_sync(scan):
            yield info


@dataclass(frozen=True, slots=True)
class S3Config:
    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None


def parse_s3_url(url: str) -> tuple[str, str, dict[str, str]]:
    """``s3://bucket[/prefix][?endpoint=…&region=…]`` -> (bucket, prefix, options)."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError("FOCUSHUB_STORAGE_URL must look like s3://bucket[/prefix]")
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    return parts.netloc, parts.path.strip("/"), options


class S3Store:
    name = "s3"

    def __init__(self, config: S3Config) -> None:
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        self.config = config
        self.bucket = config.bucket
        self.prefix = f"{config.prefix.strip('/')}/" if config.prefix.strip("/") else ""
        self.client = boto3.session.Session().client(
            "s3",
            endpoint_url=config.endpoint_url,
            region_name=config.region,
            aws_access_key_id=config.access_key_id,
            aws_secret_access_key=config.secret_access_key,
            config=Config(retries={"max_attempts": 5, "mode": "standard"},
                          connect_timeout=10, read_timeout=60,
                          s3={"addressing_style": "path"} if config.endpoint_url else {}),
        )
        # No transfer threads: one part in memory per upload (the RSS goal of uploads).
        self.transfer = TransferConfig(use_threads=False, multipart_threshold=8 * 1024 * 1024,
                                       multipart_chunksize=8 * 1024 * 1024)

    def _key(self, key: str) -> str:
        return self.prefix + _check_key(key)

    async def put_file(self, key: str, path: Path, content_type: str) -> None:
        with _reachable():
            await anyio.to_thread.run_sync(lambda: self.client.upload_file(
                str(path), self.bucket, self._key(key),
                ExtraArgs={"ContentType": content_type}, Config=self.transfer))

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        with _reachable():
            await anyio.to_thread.run_sync(lambda: self.client.put_object(
                Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type))

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        with _reachable():
            from botocore.exceptions import ClientError

            args: dict[str, Any] = {"Bucket": self.bucket, "Key": self._key(key)}
            if start or end is not None:
                args["Range"] = f"bytes={start}-{'' if end is None else end}"
            try:
                response = await anyio.to_thread.run_sync(lambda: self.client.get_object(**args))
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    raise ObjectMissing(key) from None
                raise
            body = response["Body"]
            chunks: Iterator[bytes] = body.iter_chunks(CHUNK)
            try:
                while True:
                    chunk = await anyio.to_thread.run_sync(next, chunks, None)
                    if chunk is None:
                        return
                    yield chunk
            finally:
                body.close()

    async def download(self, key: str, path: Path) -> None:
        with _reachable():
            from botocore.exceptions import ClientError

            try:
                await anyio.to_thread.run_sync(lambda: self.client.download_file(
                    self.bucket, self._key(key), str(path), Config=self.transfer))
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    raise ObjectMissing(key) from None
                raise

    async def delete(self, key: str) -> None:
        with _reachable():
            await anyio.to_thread.run_sync(lambda: self.client.delete_object(
                Bucket=self.bucket, Key=self._key(key)))

    async def exists(self, key: str) -> bool:
        with _reachable():
            from botocore.exceptions import ClientError

            try:
                await anyio.to_thread.run_sync(lambda: self.client.head_object(
                    Bucket=self.bucket, Key=self._key(key)))
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                    return False
                raise
            return True

    async def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        with _reachable():
            paginator = self.client.get_paginator("list_objects_v2")
            pages = iter(paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix))
            while True:
                page = await anyio.to_thread.run_sync(next, pages, None)
                if page is None:
                    return
                for item in page.get("Contents", []):
                    yield ObjectInfo(item["Key"][len(self.prefix):], item["Size"],
                                     item["LastModified"])

    async def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (development and tests)."""
        with _reachable():
            from botocore.exceptions import ClientError

            try:
                await anyio.to_thread.run_sync(lambda: self.client.head_bucket(Bucket=self.bucket))
            except ClientError:
                await anyio.to_thread.run_sync(lambda: self.client.create_bucket(Bucket=self.bucket))


def open_store(*, storage_url: str | None, data_dir: Path, endpoint_url: str | None = None,
               region: str | None = None, access_key_id: str | None = None,
               secret_access_key: str | None = None) -> ObjectStore:
    """The store the settings name: S3 when ``storage_url`` is ``s3://…``, else local disk."""
    if not storage_url:
        return LocalStore(data_dir / "files")
    bucket, prefix, options = parse_s3_url(storage_url)
    return S3Store(S3Config(
        bucket=bucket, prefix=prefix,
        endpoint_url=endpoint_url or options.get("endpoint"),
        region=region or options.get("region"),
        access_key_id=access_key_id, secret_access_key=secret_access_key,
    ))
