"""The one artifact fetcher every consumer uses: download, verify, then extract.

Consumers must not trust a byte before it matches the digest the source
published, so verification sits between the download and the extraction.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import aiohttp
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from eddy_artifacts.digest import Digest, Hasher
from eddy_artifacts.errors import (
    ArtifactError,
    ArtifactFetchError,
    ArtifactNotFound,
    DigestMismatch,
)
from eddy_artifacts.extract import DEFAULT_MAX_SIZE, extract_archive

DEFAULT_ATTEMPTS = 3
DEFAULT_TIMEOUT = 60.0
# Written to disk in batches of this size, in a worker thread, so a slow disk
# never stalls the event loop.
_BATCH = 1 << 20


class _TransientFetchError(ArtifactFetchError):
    """A failure worth another try: connection trouble, a 5xx, a cut-off body."""


@dataclass(frozen=True)
class FetchedArtifact:
    """An artifact verified and extracted into `path`."""

    path: Path
    digest: Digest
    size: int


def _write_batch(out: BinaryIO, hasher: Hasher, data: bytes) -> None:
    hasher.update(data)
    out.write(data)


async def _download(
    session: aiohttp.ClientSession,
    url: str,
    out: BinaryIO,
    algorithm: str,
    max_size: int | None,
    timeout: float,
) -> Hasher:
    hasher = Hasher(algorithm)
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            if response.status == 404:
                raise ArtifactNotFound(
                    f"artifact {url} was not found (HTTP 404); the source may not have "
                    "stored it yet or has garbage-collected this revision"
                )
            if response.status >= 500 or response.status == 429:
                raise _TransientFetchError(
                    f"artifact server answered HTTP {response.status} {response.reason} for {url}"
                )
            if response.status != 200:
                raise ArtifactFetchError(
                    f"artifact server answered HTTP {response.status} {response.reason} "
                    f"for {url}; check the source's status.artifact.url and network policies"
                )
            batch = bytearray()
            async for chunk in response.content.iter_chunked(1 << 16):
                batch += chunk
                if max_size is not None and hasher.size + len(batch) > max_size:
                    raise ArtifactFetchError(
                        f"artifact {url} is larger than the {max_size}-byte limit; "
                        "raise the artifact size limit if this source is meant to be this large"
                    )
                if len(batch) >= _BATCH:
                    await asyncio.to_thread(_write_batch, out, hasher, bytes(batch))
                    batch.clear()
            if batch:
                await asyncio.to_thread(_write_batch, out, hasher, bytes(batch))
    except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError) as err:
        raise _TransientFetchError(f"download of {url} was cut off: {err}") from err
    except aiohttp.ClientConnectionError as err:
        raise _TransientFetchError(
            f"cannot connect to the artifact server for {url}: {err}"
        ) from err
    except TimeoutError as err:
        raise _TransientFetchError(f"download of {url} timed out after {timeout:g}s") from err
    except aiohttp.ClientError as err:
        raise ArtifactFetchError(f"cannot download {url}: {err}") from err
    return hasher


async def fetch_artifact(
    session: aiohttp.ClientSession,
    url: str,
    digest: str,
    dest_dir: Path,
    *,
    max_size: int | None = DEFAULT_MAX_SIZE,
    attempts: int = DEFAULT_ATTEMPTS,
    timeout: float = DEFAULT_TIMEOUT,
    backoff: float = 0.5,
) -> FetchedArtifact:
    """Download `url`, verify it has `digest`, and extract it into `dest_dir`.

    dest_dir is created if missing and must be empty. Transient failures
    (connection errors, HTTP 5xx/429, truncated bodies, timeouts) are retried up
    to `attempts` times in total with exponential backoff starting at `backoff`
    seconds. Raises ArtifactNotFound on 404, DigestMismatch when the bytes differ
    from what the source published (nothing is extracted then),
    ArtifactFetchError for other download failures and UnsafeArchive /
    ArchiveTooLarge when the archive cannot be extracted safely.
    `max_size` bounds both the download and the extracted size (None: no limit).
    """
    expected = Digest.parse(digest)
    tmp, out = await asyncio.to_thread(_temp_file, dest_dir)
    try:
        hasher = Hasher(expected.algorithm)
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(max(1, attempts)),
            wait=wait_exponential(multiplier=backoff, max=10 * backoff),
            retry=retry_if_exception_type(_TransientFetchError),
            reraise=True,
        ):
            with attempt:
                await asyncio.to_thread(_rewind, out)
                hasher = await _download(session, url, out, expected.algorithm, max_size, timeout)
        await asyncio.to_thread(out.close)
        actual = hasher.digest()
        if not expected.matches(actual):
            raise DigestMismatch(url, str(expected), str(actual))
        await asyncio.to_thread(extract_archive, tmp, dest_dir, max_size)
        return FetchedArtifact(dest_dir, actual, hasher.size)
    except _TransientFetchError as err:
        # Callers see the public type; the retry marker is an internal detail.
        raise ArtifactFetchError(f"{err} (gave up after {max(1, attempts)} attempts)") from err
    finally:
        await asyncio.to_thread(_discard, tmp, out)


def _temp_file(dest_dir: Path) -> tuple[Path, BinaryIO]:
    # Checked before downloading, so a caller's mistake costs no transfer.
    if dest_dir.is_dir() and any(dest_dir.iterdir()):
        raise ArtifactError(f"cannot fetch into {dest_dir}: the directory is not empty")
    # Beside dest_dir, so the download lands on the same filesystem as the tree.
    dest_dir.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".artifact-", suffix=".tar.gz", dir=dest_dir.parent)
    return Path(name), os.fdopen(fd, "w+b")


def _discard(tmp: Path, out: BinaryIO) -> None:
    out.close()
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()


def _rewind(out: BinaryIO) -> None:
    out.seek(0)
    out.truncate()
