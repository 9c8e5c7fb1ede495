"""Built assets to S3: plan what the bucket lacks, upload only that, the manifest last.

A build folder holds `assets/` (fingerprinted files) and `asset-manifest.json`, which maps each logical name to
its fingerprinted path with size and sha256. A fingerprinted key almost means "same content", but the plan still
verifies (size, then the single-part MD5 ETag, then the sha256 metadata written at upload), so a broken build that
reused a name cannot leave a wrong object in place. Nothing is ever deleted: pages cached anywhere still link the
previous build's names. The manifest goes up after every asset it names, so nothing can reference an object that
is not there yet, and an interrupted run leaves the live site on the previous build.

The manifest, its file names, the Content-Types and the immutable Cache-Control are the storefront's (one model
of the file for the build that writes it, the origin that serves it and the upload here).

boto3 is sync and imported lazily: this module is imported by the CLI, which should not pay for boto3 on
commands that never deploy.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import json
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TextIO
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from storefront import ASSETS_DIR, IMMUTABLE_CACHE, MANIFEST_FILE, AssetManifest, content_type

# One name, new content every deploy: caches may keep it a minute, no longer.
MANIFEST_CACHE_CONTROL = "public, max-age=60"
SHA256_METADATA = "sha256"  # stored as x-amz-meta-sha256
UPLOAD_WORKERS = 4
# Below this one PUT (whose ETag is the MD5 the next plan compares); above it parts that retry on their own.
MULTIPART_THRESHOLD = 16 * 2**20
_READ_CHUNK = 2**20
_MAX_PROBLEMS_SHOWN = 5

S3Client = Any  # a boto3 S3 client: boto3 ships no type information
ProgressCallback = Callable[[int, int, str], None]
"""`progress(done_bytes, total_bytes, key)`, called from upload threads but never two at a time."""

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_BUCKET_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


class AssetSyncError(Exception):
    """The sync cannot go on; the message names what is wrong and how to fix it."""


class SyncInterrupted(AssetSyncError):
    """Some uploads failed; the ones done are kept, and running again uploads only the rest."""

    def __init__(self, message: str, *, uploaded: int, remaining: int, failed_key: str) -> None:
        super().__init__(message)
        self.uploaded = uploaded
        self.remaining = remaining
        self.failed_key = failed_key


def _relative_path(value: str) -> str:
    parts = value.split("/")
    if not value or value.startswith("/") or "\\" in value or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"{value!r} must be a relative path with / separators and no '.' or '..' parts")
    return value


class AssetTarget(BaseModel):
    """Where built assets go (`[deploy.assets]`). No secrets: boto3 finds credentials itself (env, profile, role)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bucket: str = Field(description="the S3 bucket name")
    prefix: str = Field(default="assets/", description='key prefix for the assets and the manifest; "" for the root')
    region: str | None = Field(default=None, pattern=r"^[a-z0-9-]{1,32}$", description="the bucket's region")
    endpoint_url: str | None = Field(default=None, description="an S3-compatible store instead of AWS (MinIO, R2…)")
    public_url: str | None = Field(
        default=None, description="where shoppers load what is under prefix (through the CDN): public_url/<path>"
    )

    @field_validator("bucket")
    @classmethod
    def _bucket_name(cls, value: str) -> str:
        problem = None
        if not _BUCKET.match(value):
            problem = "use 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit"
        elif ".." in value or ".-" in value or "-." in value:
            problem = "no two adjacent dots, and no dot next to a hyphen"
        elif _is_ip_address(value):
            problem = "it must not look like an IP address"
        elif value.startswith(_BUCKET_RESERVED_PREFIXES) or value.endswith(_BUCKET_RESERVED_SUFFIXES):
            problem = "that prefix or suffix is reserved by S3"
        if problem:
            raise ValueError(f"{value!r} is not a valid S3 bucket name: {problem}")
        return value

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        stripped = value.strip("/")
        return _relative_path(stripped) + "/" if stripped else ""

    @field_validator("endpoint_url", "public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{value!r} must be an http:// or https:// URL")
        return value.rstrip("/")

    @property
    def manifest_key(self) -> str:
        return self.prefix + MANIFEST_FILE

    def key_for(self, path: str) -> str:
        return self.prefix + path

    def url_for(self, path: str) -> str | None:
        """Where shoppers load the asset at `path` (relative to the build's assets/), when public_url is set."""
        return f"{self.public_url}/{path}" if self.public_url else None

    def describe(self) -> str:
        where = f"s3://{self.bucket}/{self.prefix}"
        return f"{where} at {self.endpoint_url}" if self.endpoint_url else where


def _is_ip_address(value: str) -> bool:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class PlannedUpload:
    key: str
    path: Path
    size: int
    sha256: str
    content_type: str
    cache_control: str
    reason: Literal["new", "changed"]
    """new: no object under the key; changed: one with other (or unverifiable) content, overwritten."""
    md5: str = ""  # compared with a single-part upload's ETag, so an unchanged object needs no HEAD


@dataclass(frozen=True, slots=True)
class SyncPlan:
    """What a sync would do; computing it reads the bucket and writes nothing (`deploy --dry-run` prints it)."""

    target: AssetTarget
    uploads: tuple[PlannedUpload, ...]
    """Assets first, the manifest (when it changed) last."""
    skipped: tuple[str, ...]
    """Keys the bucket already holds with the same content."""
    stale: int
    """Objects under the prefix this manifest no longer names: kept, since cached pages may still link them."""
    planned_at: float = dataclasses.field(default_factory=time.time)
    """When the bucket was read: a journal entry older than this does not outweigh what the listing showed."""

    @property
    def upload_bytes(self) -> int:
        return sum(item.size for item in self.uploads)

    def summary(self) -> str:
        counts = f"{len(self.uploads)} file(s), {human_bytes(self.upload_bytes)}, to upload to {self.target.describe()}"
        return f"{counts}; {len(self.skipped)} unchanged; {self.stale} no longer in the manifest (kept)"

    def lines(self) -> list[str]:
        """One line per upload, in upload order: reason, key, size, Content-Type, Cache-Control."""
        return [
            f"{item.reason:7} {item.key}  {human_bytes(item.size)}  {item.content_type}  {item.cache_control}"
            for item in self.uploads
        ]


@dataclass(frozen=True, slots=True)
class SyncResult:
    uploaded: tuple[str, ...]
    resumed: tuple[str, ...]
    """Planned keys an interrupted run had already uploaded (from the journal), not sent again."""
    skipped: int
    bytes_uploaded: int


# --- the build folder -------------------------------------------------------------------------------------------


def load_manifest(build_dir: Path) -> AssetManifest:
    path = build_dir / MANIFEST_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise AssetSyncError(f"{path}: not found; run `wrangler-py build` first (deploy uploads its output)") from None
    except OSError as exc:
        raise AssetSyncError(f"{path}: cannot be read ({exc.strerror})") from exc
    try:
        return AssetManifest.model_validate_json(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'file'}: {error['msg']}"
            for error in exc.errors()[:_MAX_PROBLEMS_SHOWN]
        )
        raise AssetSyncError(f"{path}: not a valid asset manifest ({problems}); run `wrangler-py build` again") from exc


def _digests(path: Path) -> tuple[int, str, str]:
    sha256, md5, size = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
    with path.open("rb") as file:
        while chunk := file.read(_READ_CHUNK):
            sha256.update(chunk)
            md5.update(chunk)
            size += len(chunk)
    return size, sha256.hexdigest(), md5.hexdigest()


def local_files(build_dir: Path, target: AssetTarget) -> list[PlannedUpload]:
    """Every file the manifest names, checked against it, then the manifest itself (last); reason is provisional."""
    manifest = load_manifest(build_dir)
    manifest_path = build_dir / MANIFEST_FILE
    assets = build_dir / ASSETS_DIR
    files: dict[str, PlannedUpload] = {}
    problems: list[str] = []
    for name, entry in sorted(manifest.assets.items(), key=lambda item: item[1].path):
        key = target.key_for(entry.path)
        if key == target.manifest_key:
            problems.append(f"{name!r}: its path {entry.path!r} is the manifest's own name")
            continue
        if key in files:
            if files[key].sha256 != entry.sha256:
                problems.append(f"{name!r}: {entry.path} is listed twice with different sha256")
            continue
        file = assets / entry.path
        try:
            size, sha256, md5 = _digests(file)
        except FileNotFoundError:
            problems.append(f"{file}: listed as {name!r} but missing")
            continue
        except OSError as exc:
            problems.append(f"{file}: cannot be read ({exc.strerror})")
            continue
        if sha256 != entry.sha256 or size != entry.size:
            problems.append(f"{file}: its size/sha256 do not match the manifest's (changed after the build?)")
            continue
        files[key] = PlannedUpload(key=key, path=file, size=size, sha256=sha256, md5=md5,
                                   content_type=entry.content_type, cache_control=IMMUTABLE_CACHE,
                                   reason="new")  # fmt: skip
    if problems:
        shown = "; ".join(problems[:_MAX_PROBLEMS_SHOWN])
        more = f" (and {len(problems) - _MAX_PROBLEMS_SHOWN} more)" if len(problems) > _MAX_PROBLEMS_SHOWN else ""
        raise AssetSyncError(
            f"{manifest_path}: {len(problems)} problem(s): {shown}{more}; run `wrangler-py build` again"
        )
    size, sha256, md5 = _digests(manifest_path)
    manifest_item = PlannedUpload(key=target.manifest_key, path=manifest_path, size=size, sha256=sha256, md5=md5,
                                  content_type=content_type(MANIFEST_FILE), cache_control=MANIFEST_CACHE_CONTROL,
                                  reason="new")  # fmt: skip
    return [*files.values(), manifest_item]


# --- the bucket -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Remote:
    size: int
    etag: str


def s3_client(target: AssetTarget) -> S3Client:
    """A boto3 S3 client for the target, with boto3's usual credential chain (env vars, profile, attached role)."""
    import boto3
    from botocore.config import Config

    options: dict[str, Any] = {
        "retries": {"mode": "standard", "max_attempts": 5},
        "max_pool_connections": UPLOAD_WORKERS * 2,
    }
    if target.endpoint_url:
        # Recent botocore adds CRC32 checksums to every upload, which some S3-compatible stores reject.
        options |= {"request_checksum_calculation": "when_required", "response_checksum_validation": "when_required"}
    # A session of its own: boto3's default one is shared process state, and caches the credentials it found first.
    session = boto3.session.Session()
    return session.client("s3", region_name=target.region, endpoint_url=target.endpoint_url, config=Config(**options))


def explain_s3_error(exc: BaseException, target: AssetTarget, action: str) -> str:
    """A boto3/botocore failure as one sentence with the fix."""
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

    if isinstance(exc, NoCredentialsError):
        return ("no AWS credentials found: export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, set AWS_PROFILE, "
                "or run where an IAM role is attached")  # fmt: skip
    if isinstance(exc, EndpointConnectionError):
        return f"cannot reach {target.endpoint_url or 'S3'} ({exc}); check [deploy.assets] endpoint_url/region"
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code == "NoSuchBucket":
            return f"bucket {target.bucket!r} does not exist: create it, or fix [deploy.assets] bucket"
        if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return f"access denied ({code}): the credentials need {action} on bucket {target.bucket!r}"
        return f"{code or type(exc).__name__}: {exc}"
    return f"{type(exc).__name__}: {exc}"


def _list_remote(client: S3Client, target: AssetTarget) -> dict[str, _Remote]:
    remote: dict[str, _Remote] = {}
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=target.bucket, Prefix=target.prefix):
            for item in page.get("Contents", ()):
                remote[item["Key"]] = _Remote(size=int(item["Size"]), etag=str(item.get("ETag", "")).strip('"'))
    except Exception as exc:  # botocore's errors, explained
        raise AssetSyncError(f"listing {target.describe()}: {explain_s3_error(exc, target, 's3:ListBucket')}") from exc
    return remote


def _stored_sha256(client: S3Client, target: AssetTarget, key: str) -> str | None:
    try:
        head = client.head_object(Bucket=target.bucket, Key=key)
    except Exception as exc:
        raise AssetSyncError(f"reading {key} in {target.describe()}: "
                             f"{explain_s3_error(exc, target, 's3:GetObject')}") from exc  # fmt: skip
    value = head.get("Metadata", {}).get(SHA256_METADATA)
    return str(value) if value else None


def plan_sync(build_dir: Path, target: AssetTarget, client: S3Client, *, journal: Path | None = None) -> SyncPlan:
    """Compare the build with the bucket: upload what is missing or different, skip the rest; writes nothing.

    An object is unchanged when its size matches and either its ETag is the file's MD5 (single-part uploads) or
    its sha256 metadata matches (one HEAD, only for those). A `journal` of an interrupted run saves those HEADs.
    """
    files = local_files(build_dir, target)
    remote = _list_remote(client, target)
    journaled = read_journal(journal, target) if journal else {}
    uploads: list[PlannedUpload] = []
    skipped: list[str] = []
    for item in files:
        found = remote.get(item.key)
        if found is None:
            uploads.append(item)
            continue
        same = found.size == item.size and (
            found.etag == item.md5
            or (item.key, item.sha256) in journaled
            or _stored_sha256(client, target, item.key) == item.sha256
        )
        if same:
            skipped.append(item.key)
        else:
            uploads.append(dataclasses.replace(item, reason="changed"))
    known = {item.key for item in files}
    stale = sum(1 for key in remote if key not in known)
    return SyncPlan(target=target, uploads=tuple(uploads), skipped=tuple(skipped), stale=stale)


# --- the journal: what an interrupted run finished ------------------------------------------------------------------


def _journal_target(target: AssetTarget) -> str:
    return f"{target.endpoint_url or 's3:'}//{target.bucket}/{target.prefix}"


def read_journal(path: Path, target: AssetTarget) -> dict[tuple[str, str], float]:
    """(key, sha256) → when an earlier run to this target uploaded it; a line cut short by a crash is ignored."""
    done: dict[tuple[str, str], float] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return done
    where = _journal_target(target)
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("target") == where and isinstance(record.get("at"), float):
            done[(str(record.get("key")), str(record.get("sha256")))] = record["at"]
    return done


class _Journal:
    """Appends one fsync'd JSON line per finished upload, so a crash a moment later still knows it was done."""

    def __init__(self, path: Path | None, target: AssetTarget) -> None:
        self._where = _journal_target(target)
        self._lock = threading.Lock()
        self._file: TextIO | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8")

    def record(self, item: PlannedUpload) -> None:
        record = {"target": self._where, "key": item.key, "sha256": item.sha256, "at": time.time()}
        line = json.dumps(record, separators=(",", ":"))
        with self._lock:
            if self._file is None:  # none asked for, or closed: an upload still in flight after an interruption
                return
            self._file.write(line + "\n")
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


# --- uploading ----------------------------------------------------------------------------------------------------


class _Progress:
    def __init__(self, total: int, callback: ProgressCallback | None) -> None:
        self.total = total
        self._callback = callback
        self._lock = threading.Lock()
        self._per_key: dict[str, int] = {}
        self.done = 0

    def advance(self, key: str, amount: int) -> None:
        # s3transfer reports negative amounts when it rewinds a body to retry it.
        with self._lock:
            self._per_key[key] = self._per_key.get(key, 0) + amount
            self.done += amount
            if self._callback is not None:
                self._callback(max(0, min(self.done, self.total)), self.total, key)

    def finish(self, key: str, size: int) -> None:
        # Count exactly the file's size once it is stored, whatever the callbacks added up to.
        self.advance(key, size - self._per_key.get(key, 0))


def _upload(client: S3Client, target: AssetTarget, item: PlannedUpload, progress: _Progress, journal: _Journal) -> None:
    from boto3.s3.transfer import TransferConfig

    # A large file's parts go two at a time: the pool already sends several files at once.
    config = TransferConfig(multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_THRESHOLD,
                            max_concurrency=2)  # fmt: skip
    client.upload_file(
        str(item.path),
        target.bucket,
        item.key,
        ExtraArgs={
            "ContentType": item.content_type,
            "CacheControl": item.cache_control,
            "Metadata": {SHA256_METADATA: item.sha256},
        },
        Config=config,
        Callback=lambda amount: progress.advance(item.key, amount),
    )
    progress.finish(item.key, item.size)
    journal.record(item)


def _upload_all(
    items: Iterable[PlannedUpload], client: S3Client, target: AssetTarget, progress: _Progress, journal: _Journal,
    workers: int,
) -> tuple[list[str], tuple[PlannedUpload, BaseException] | None]:  # fmt: skip
    """Upload in a small pool; after the first failure nothing new starts, and what is in flight may finish.

    An interruption (Ctrl-C, or any exception here) cancels what has not started and is raised at once: the
    pool's own exit would wait for every queued upload. The few in flight finish in their threads.
    """
    stop = threading.Event()

    def work(item: PlannedUpload) -> bool:
        if stop.is_set():
            return False
        try:
            _upload(client, target, item, progress, journal)
        except BaseException:
            stop.set()
            raise
        return True

    uploaded: list[str] = []
    failure: tuple[PlannedUpload, BaseException] | None = None
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="asset-sync")
    try:
        futures: dict[Future[bool], PlannedUpload] = {pool.submit(work, item): item for item in items}
        for future in as_completed(futures):
            item = futures[future]
            error = future.exception()
            if error is not None:
                failure = failure or (item, error)
            elif future.result():
                uploaded.append(item.key)
    except BaseException:
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return uploaded, failure


def run_sync(
    plan: SyncPlan,
    client: S3Client,
    *,
    progress: ProgressCallback | None = None,
    journal: Path | None = None,
    workers: int = UPLOAD_WORKERS,
) -> SyncResult:
    """Upload what the plan lists, assets in parallel, then the manifest alone; never deletes.

    With a `journal`, each finished upload is recorded at once, and what it records after the plan was made is not
    sent again: a retry with the same plan resumes without reading the bucket. A complete run removes the journal.
    Raises `SyncInterrupted` when an upload fails: the message says how far it got and that running again resumes.
    """
    target = plan.target
    journaled = read_journal(journal, target) if journal else {}
    done_before = {pair for pair, at in journaled.items() if at >= plan.planned_at}
    resumed = [item.key for item in plan.uploads if (item.key, item.sha256) in done_before]
    todo = [item for item in plan.uploads if (item.key, item.sha256) not in done_before]
    assets = [item for item in todo if item.key != target.manifest_key]
    manifest = [item for item in todo if item.key == target.manifest_key]
    tracker = _Progress(sum(item.size for item in todo), progress)
    log = _Journal(journal, target)
    try:
        uploaded, failure = _upload_all(assets, client, target, tracker, log, max(1, workers))
        if failure is None and manifest:
            more, failure = _upload_all(manifest, client, target, tracker, log, 1)
            uploaded += more
    finally:
        log.close()
    if failure is not None:
        item, error = failure
        remaining = len(todo) - len(uploaded)
        raise SyncInterrupted(
            f"uploading to {target.describe()} stopped at {item.key}: "
            f"{explain_s3_error(error, target, 's3:PutObject')}. "
            f"{len(uploaded) + len(resumed)} of {len(plan.uploads)} file(s) are uploaded and kept; "
            f"{remaining} remain, and the manifest was not replaced, so the live site still uses the previous build. "
            "Run the deploy again to resume: it uploads only what is missing.",
            uploaded=len(uploaded) + len(resumed),
            remaining=remaining,
            failed_key=item.key,
        ) from error
    if journal is not None:
        journal.unlink(missing_ok=True)  # complete: the next run starts from what the bucket holds
    return SyncResult(uploaded=tuple(uploaded), resumed=tuple(resumed), skipped=len(plan.skipped),
                      bytes_uploaded=sum(item.size for item in todo))  # fmt: skip


# --- a progress bar for the CLI -------------------------------------------------------------------------------------


def human_bytes(count: int) -> str:
    if count < 1000:
        return f"{count} B"
    size = float(count)
    for unit in ("kB", "MB"):
        size /= 1000
        if size < 1000:
            return f"{size:.1f} {unit}"
    return f"{size / 1000:.1f} GB"


class ProgressBar:
    """A `progress=` for run_sync: one line redrawn in place on a terminal, else a line per tenth (CI logs)."""

    def __init__(
        self, stream: TextIO | None = None, *, width: int = 28, interactive: bool | None = None,
        min_interval: float = 0.1,
    ) -> None:  # fmt: skip
        self._stream = stream if stream is not None else sys.stderr
        self._width = width
        self._interactive = self._stream.isatty() if interactive is None else interactive
        self._min_interval = min_interval
        self._last_draw = float("-inf")
        self._last_tenth = -1
        self._drawn = False

    def __call__(self, done: int, total: int, key: str) -> None:
        fraction = done / total if total else 1.0
        line = f"[{'#' * round(fraction * self._width):{self._width}}] {fraction:4.0%} "
        line += f"{human_bytes(done)}/{human_bytes(total)} {key}"
        if self._interactive:
            now = time.monotonic()
            if done < total and now - self._last_draw < self._min_interval:
                return
            self._last_draw = now
            self._stream.write(f"\r{line}\x1b[K")
            self._drawn = True
        else:
            tenth = int(fraction * 10)
            if tenth <= self._last_tenth:
                return
            self._last_tenth = tenth
            self._stream.write(line + "\n")
        self._stream.flush()

    def close(self) -> None:
        if self._interactive and self._drawn:
            self._stream.write("\n")
            self._stream.flush()
