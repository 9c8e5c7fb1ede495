"""Asset upload against a real S3-compatible server on loopback (moto's standalone server, in a thread: conftest)."""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig
from pydantic import ValidationError

from storefront import IMMUTABLE_CACHE, AssetEntry, AssetManifest, content_type
from wrangler_py import asset_sync
from wrangler_py.asset_sync import (
    MANIFEST_CACHE_CONTROL,
    AssetSyncError,
    AssetTarget,
    ProgressBar,
    SyncInterrupted,
    SyncPlan,
    human_bytes,
    local_files,
    plan_sync,
    read_journal,
    run_sync,
    s3_client,
)

pytestmark = pytest.mark.usefixtures("aws_env")

CSS = b"body{color:#222}\n.cart{display:flex}\n"
JS = b"document.querySelector('.cart').hidden=false;\n"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><circle r="4"/></svg>'
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
FONT = b"wOF2" + bytes(40)

_buckets = itertools.count()


@pytest.fixture
def target(s3_endpoint: str) -> AssetTarget:
    """A fresh bucket on the shared server for each test."""
    target = AssetTarget(bucket=f"shop-assets-{next(_buckets)}", endpoint_url=s3_endpoint, region="us-east-1")
    s3_client(target).create_bucket(Bucket=target.bucket)
    return target


def fingerprinted(name: str, body: bytes) -> str:
    stem, dot, suffix = name.rpartition(".")
    return f"{stem}.{hashlib.sha256(body).hexdigest()[:12]}{dot}{suffix}"


def write_build(folder: Path, files: dict[str, bytes]) -> Path:
    """A build folder as `wrangler-py build` writes it: assets/<fingerprinted> and asset-manifest.json."""
    assets: dict[str, AssetEntry] = {}
    for name, body in files.items():
        path = fingerprinted(name, body)
        (folder / "assets" / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / "assets" / path).write_bytes(body)
        assets[name] = AssetEntry(path=path, sha256=hashlib.sha256(body).hexdigest(), size=len(body),
                                  content_type=content_type(name))  # fmt: skip
    (folder / "asset-manifest.json").write_bytes(AssetManifest(assets=assets).to_json())
    return folder


@pytest.fixture
def build(tmp_path: Path) -> Path:
    files = {"css/store.css": CSS, "js/cart.js": JS, "img/logo.svg": SVG, "img/hero.png": PNG, "fonts/ui.woff2": FONT}
    return write_build(tmp_path / "out", files)


class Calls:
    """Counts (and can fail) S3 operations through botocore's event hooks on a real client."""

    def __init__(self, client: Any, operation: str, *, fail_on: int | None = None) -> None:
        self.keys: list[str] = []
        self._lock = threading.Lock()
        self._fail_on = fail_on
        client.meta.events.register(f"provide-client-params.s3.{operation}", self._seen)

    def _seen(self, params: dict[str, Any], **kwargs: Any) -> None:
        with self._lock:
            self.keys.append(params["Key"])
            if self._fail_on is not None and len(self.keys) == self._fail_on:
                raise ConnectionResetError("simulated interruption")


def bucket_keys(client: Any, target: AssetTarget) -> set[str]:
    return {item["Key"] for item in client.list_objects_v2(Bucket=target.bucket).get("Contents", ())}


def test_first_sync_uploads_everything_with_its_headers_and_the_manifest_last(
    build: Path, target: AssetTarget, tmp_path: Path
) -> None:
    client = s3_client(target)
    plan = plan_sync(build, target, client)
    assert [u.reason for u in plan.uploads] == ["new"] * 6 and plan.skipped == () and plan.stale == 0
    assert plan.uploads[-1].key == "assets/asset-manifest.json"
    puts = Calls(client, "PutObject")
    seen: list[tuple[int, int, str]] = []
    journal = tmp_path / "deploy.journal"

    result = run_sync(plan, client, progress=lambda done, total, key: seen.append((done, total, key)), journal=journal)

    assert len(result.uploaded) == 6 and result.bytes_uploaded == plan.upload_bytes
    assert puts.keys[-1] == "assets/asset-manifest.json"  # nothing can name an object that is not there yet
    assert seen[-1][0] == seen[-1][1] == plan.upload_bytes
    assert not journal.exists()  # complete: the next run starts from the bucket
    # The types the manifest records and the origin serves (one table, storefront.content_type).
    expected = {
        "css/store": ("text/css; charset=utf-8", IMMUTABLE_CACHE),
        "js/cart": ("text/javascript; charset=utf-8", IMMUTABLE_CACHE),
        "img/logo": ("image/svg+xml", IMMUTABLE_CACHE),
        "img/hero": ("image/png", IMMUTABLE_CACHE),
        "fonts/ui": ("font/woff2", IMMUTABLE_CACHE),
        "asset-manifest": ("application/json; charset=utf-8", MANIFEST_CACHE_CONTROL),
    }
    for item in plan.uploads:
        head = client.head_object(Bucket=target.bucket, Key=item.key)
        stem = item.key.removeprefix("assets/").split(".")[0]
        assert (head["ContentType"], head["CacheControl"]) == expected[stem], item.key
        assert head["Metadata"] == {"sha256": item.sha256}
        assert head["ContentLength"] == item.size
    body = client.get_object(Bucket=target.bucket, Key=f"assets/{fingerprinted('css/store.css', CSS)}")["Body"]
    assert body.read() == CSS


def test_a_second_sync_uploads_nothing_and_needs_no_head_requests(build: Path, target: AssetTarget) -> None:
    client = s3_client(target)
    run_sync(plan_sync(build, target, client), client)
    heads = Calls(client, "HeadObject")
    plan = plan_sync(build, target, client)
    assert plan.uploads == () and len(plan.skipped) == 6
    assert heads.keys == []  # single-part ETags are the MD5 already computed locally
    assert run_sync(plan, client).uploaded == ()


def test_changing_one_asset_uploads_only_it_and_the_manifest_and_keeps_the_old_one(
    tmp_path: Path, target: AssetTarget
) -> None:
    client = s3_client(target)
    first = write_build(tmp_path / "v1", {"css/store.css": CSS, "js/cart.js": JS})
    run_sync(plan_sync(first, target, client), client)
    second = write_build(tmp_path / "v2", {"css/store.css": CSS + b".new{}", "js/cart.js": JS})

    plan = plan_sync(second, target, client)

    new_css = f"assets/{fingerprinted('css/store.css', CSS + b'.new{}')}"
    assert [(u.key, u.reason) for u in plan.uploads] == [(new_css, "new"), ("assets/asset-manifest.json", "changed")]
    assert plan.stale == 1  # the previous build's stylesheet, no longer named, but kept
    run_sync(plan, client)
    assert f"assets/{fingerprinted('css/store.css', CSS)}" in bucket_keys(client, target)
    manifest = json.loads(client.get_object(Bucket=target.bucket, Key="assets/asset-manifest.json")["Body"].read())
    assert manifest["assets"]["css/store.css"]["path"] == new_css.removeprefix("assets/")


def test_same_key_and_size_but_other_content_is_uploaded_again(build: Path, target: AssetTarget) -> None:
    client = s3_client(target)
    key = f"assets/{fingerprinted('css/store.css', CSS)}"
    client.put_object(Bucket=target.bucket, Key=key, Body=b"x" * len(CSS))  # a broken earlier upload
    plan = plan_sync(build, target, client)
    assert (key, "changed") in [(u.key, u.reason) for u in plan.uploads]


def test_a_multipart_object_is_checked_by_its_sha256_metadata(build: Path, target: AssetTarget) -> None:
    client = s3_client(target)
    key = f"assets/{fingerprinted('css/store.css', CSS)}"
    # A multipart upload's ETag is not the MD5 of the content: the plan must ask for the metadata instead.
    client.upload_fileobj(io.BytesIO(CSS), target.bucket, key,
                          ExtraArgs={"Metadata": {"sha256": hashlib.sha256(CSS).hexdigest()}},
                          Config=TransferConfig(multipart_threshold=1))  # fmt: skip
    assert "-" in client.head_object(Bucket=target.bucket, Key=key)["ETag"]
    heads = Calls(client, "HeadObject")
    plan = plan_sync(build, target, client)
    assert key in plan.skipped and heads.keys == [key]


def test_an_interrupted_sync_says_so_and_a_rerun_uploads_only_the_rest(
    build: Path, target: AssetTarget, tmp_path: Path
) -> None:
    client = s3_client(target)
    plan = plan_sync(build, target, client)
    journal = tmp_path / "deploy.journal"
    Calls(client, "PutObject", fail_on=3)

    with pytest.raises(SyncInterrupted, match="Run the deploy again to resume") as caught:
        run_sync(plan, client, journal=journal, workers=1)

    error = caught.value
    assert error.uploaded == 2 and error.remaining == 4 and "simulated interruption" in str(error)
    present = bucket_keys(client, target)
    assert len(present) == 2 and "assets/asset-manifest.json" not in present  # the live site keeps the old build
    assert {key for key, _ in read_journal(journal, target)} == present

    fresh = s3_client(target)
    puts = Calls(fresh, "PutObject")
    resumed = plan_sync(build, target, fresh, journal=journal)
    assert {u.key for u in resumed.uploads} == {u.key for u in plan.uploads} - present
    run_sync(resumed, fresh, journal=journal)
    assert set(puts.keys) == {u.key for u in plan.uploads} - present and puts.keys[-1].endswith("asset-manifest.json")
    assert bucket_keys(fresh, target) == {u.key for u in plan.uploads}
    assert not journal.exists()


def test_the_journal_alone_skips_what_an_interrupted_run_finished(
    build: Path, target: AssetTarget, tmp_path: Path
) -> None:
    client = s3_client(target)
    plan = plan_sync(build, target, client)
    journal = tmp_path / "deploy.journal"
    Calls(client, "PutObject", fail_on=4)
    with pytest.raises(SyncInterrupted):
        run_sync(plan, client, journal=journal, workers=4)
    done = {key for key, _ in read_journal(journal, target)}
    assert done and done == bucket_keys(client, target)

    fresh = s3_client(target)
    puts = Calls(fresh, "PutObject")
    result = run_sync(plan, fresh, journal=journal)  # the old plan, not recomputed from the bucket

    assert set(result.resumed) == done
    assert set(puts.keys) == {u.key for u in plan.uploads} - done
    assert read_journal(journal, target.model_copy(update={"bucket": "other-bucket"})) == {}


class SlowUploads:
    """Stands in for a boto3 client: the first upload returns at once, every later one hangs until released."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.release = threading.Event()
        self._lock = threading.Lock()

    def upload_file(self, filename: str, bucket: str, key: str, **options: Any) -> None:
        with self._lock:
            self.started.append(key)
            first = len(self.started) == 1
        if not first:
            self.release.wait(timeout=5)


def test_an_interruption_stops_the_upload_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C while uploads are queued: nothing new starts, and the interruption is raised without waiting."""
    files = {f"img/{i:02}.png": PNG + bytes([i]) for i in range(20)}
    target = AssetTarget(bucket="shop-assets")
    plan = SyncPlan(target=target, uploads=tuple(local_files(write_build(tmp_path / "out", files), target)),
                    skipped=(), stale=0)  # fmt: skip
    real = asset_sync.as_completed

    def interrupted_after_the_first(futures: Any) -> Iterator[Any]:
        for future in real(futures):
            yield future
            raise KeyboardInterrupt  # as if Ctrl-C arrived while the main thread waited for the next one

    monkeypatch.setattr(asset_sync, "as_completed", interrupted_after_the_first)
    client = SlowUploads()
    journal = tmp_path / "deploy.journal"
    try:
        with pytest.raises(KeyboardInterrupt):
            run_sync(plan, client, journal=journal, workers=2)
        started = list(client.started)
    finally:
        client.release.set()  # the few in flight finish in their threads
    assert 1 <= len(started) <= 3, started  # the first, and what the two workers had begun: not all 20
    assert target.manifest_key not in started  # the live site keeps the previous build
    assert {key for key, _ in read_journal(journal, target)} == {started[0]}  # a rerun resumes after it


def test_the_bucket_outweighs_a_journal_older_than_the_plan(build: Path, target: AssetTarget, tmp_path: Path) -> None:
    client = s3_client(target)
    journal = tmp_path / "deploy.journal"
    Calls(client, "PutObject", fail_on=3)
    with pytest.raises(SyncInterrupted):
        run_sync(plan_sync(build, target, client), client, journal=journal, workers=1)
    lost = sorted(bucket_keys(client, target))[0]
    client.delete_object(Bucket=target.bucket, Key=lost)  # someone tidied the bucket in between

    fresh = s3_client(target)
    plan = plan_sync(build, target, fresh, journal=journal)
    assert lost in {u.key for u in plan.uploads}
    result = run_sync(plan, fresh, journal=journal)
    assert lost in result.uploaded and result.resumed == ()
    assert bucket_keys(fresh, target) == {u.key for u in plan.uploads} | set(plan.skipped)


def test_a_dry_run_plan_reads_the_bucket_and_writes_nothing(build: Path, target: AssetTarget) -> None:
    client = s3_client(target)
    puts = Calls(client, "PutObject")
    plan = plan_sync(build, target, client)
    assert puts.keys == [] and bucket_keys(client, target) == set()
    assert "6 file(s)" in plan.summary() and "0 unchanged" in plan.summary()
    lines = plan.lines()
    assert lines[-1].startswith("new     assets/asset-manifest.json") and MANIFEST_CACHE_CONTROL in lines[-1]
    assert all(IMMUTABLE_CACHE in line for line in lines[:-1])


def test_a_missing_bucket_is_named_with_the_fix(build: Path, s3_endpoint: str) -> None:
    target = AssetTarget(bucket="no-such-bucket", endpoint_url=s3_endpoint, region="us-east-1")
    with pytest.raises(AssetSyncError, match="bucket 'no-such-bucket' does not exist: create it"):
        plan_sync(build, target, s3_client(target))


def test_missing_credentials_are_explained(build: Path, target: AssetTarget, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(AssetSyncError, match="no AWS credentials found: export AWS_ACCESS_KEY_ID"):
        plan_sync(build, target, s3_client(target))


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (
            lambda out: (out / "asset-manifest.json").unlink(),
            r"asset-manifest\.json: not found; run `wrangler-py build`",
        ),
        (lambda out: (out / "asset-manifest.json").write_text("{nope"), r"not a valid asset manifest \(file: Invalid"),
        (
            lambda out: (out / "asset-manifest.json").write_text('{"version": 2, "assets": {}}'),
            r"not a valid asset manifest \(version: Input should be 1",
        ),
        (
            lambda out: (out / "asset-manifest.json").write_text(
                '{"version": 1, "assets": {"x.css": {"path": "../x.css", "sha256": "' + "0" * 64 + '", "size": 1, '
                '"content_type": "text/css"}}}'
            ),
            r"assets\.x\.css\.path: Value error, '\.\./x\.css' must be a relative path",
        ),
        (
            lambda out: (out / "assets" / fingerprinted("js/cart.js", JS)).unlink(),
            r"1 problem\(s\): .*cart\.\w+\.js: listed as 'js/cart\.js' but missing; run `wrangler-py build` again",
        ),
        (
            lambda out: (out / "assets" / fingerprinted("js/cart.js", JS)).write_bytes(JS.upper()),
            r"cart\.\w+\.js: its size/sha256 do not match the manifest's",
        ),
    ],
    ids=["missing-manifest", "invalid-json", "wrong-version", "escaping-path", "missing-file", "tampered-file"],
)
def test_a_broken_build_folder_is_refused_before_any_upload(
    build: Path, target: AssetTarget, spoil: Callable[[Path], object], message: str
) -> None:
    spoil(build)
    client = s3_client(target)
    puts = Calls(client, "PutObject")
    with pytest.raises(AssetSyncError, match=message):
        plan_sync(build, target, client)
    assert puts.keys == []


def test_target_validates_the_bucket_and_normalizes_the_prefix() -> None:
    assert AssetTarget(bucket="acme-assets").prefix == "assets/"
    assert AssetTarget(bucket="acme-assets", prefix="/static/v1").prefix == "static/v1/"
    assert AssetTarget(bucket="acme-assets", prefix="/").prefix == ""
    assert AssetTarget(bucket="acme.assets", prefix="").manifest_key == "asset-manifest.json"
    served = AssetTarget(bucket="acme-assets", public_url="https://cdn.shop.example/assets/")
    assert served.url_for("css/store.1.css") == "https://cdn.shop.example/assets/css/store.1.css"
    for bad in ("Acme", "ab", "a" * 64, "acme_assets", "-acme", "acme..assets", "192.168.0.1", "xn--acme", "a-s3alias"):
        with pytest.raises(ValidationError, match="not a valid S3 bucket name"):
            AssetTarget(bucket=bad)
    with pytest.raises(ValidationError, match="relative path"):
        AssetTarget(bucket="acme-assets", prefix="a/../b")
    with pytest.raises(ValidationError, match="http:// or https:// URL"):
        AssetTarget(bucket="acme-assets", endpoint_url="127.0.0.1:9000")
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        AssetTarget.model_validate({"bucket": "acme-assets", "secret_key": "x"})


def test_uploads_take_the_manifest_s_content_types(tmp_path: Path, target: AssetTarget) -> None:
    """The manifest says how a file is served; the upload does not guess again (SVG once disagreed)."""
    folder = write_build(tmp_path / "out", {"img/logo.svg": SVG, "data/x.unknownext": b"x"})
    raw = json.loads((folder / "asset-manifest.json").read_text())
    raw["assets"]["data/x.unknownext"]["content_type"] = "application/x-shop"
    (folder / "asset-manifest.json").write_text(json.dumps(raw))
    types = {
        u.key.rsplit("/", 1)[-1].split(".")[0]: u.content_type
        for u in plan_sync(folder, target, s3_client(target)).uploads
    }
    assert types == {"logo": "image/svg+xml", "x": "application/x-shop", "asset-manifest": content_type("a.json")}
    assert content_type("a.json") == "application/json; charset=utf-8"


def test_progress_bar_redraws_on_a_terminal_and_prints_tenths_elsewhere() -> None:
    log = io.StringIO()
    bar = ProgressBar(log, width=10, interactive=False)
    for done in range(0, 1001, 50):
        bar(done, 1000, "assets/a.css")
    lines = log.getvalue().splitlines()
    assert len(lines) == 11 and lines[-1].startswith("[##########] 100% 1.0 kB/1.0 kB assets/a.css")

    tty = io.StringIO()
    bar = ProgressBar(tty, width=10, interactive=True, min_interval=3600)
    bar(10, 1000, "a")
    bar(500, 1000, "b")  # within min_interval: not redrawn
    bar(1000, 1000, "c")  # the end is always drawn
    bar.close()
    assert tty.getvalue().count("\r") == 2 and "\n" not in tty.getvalue()[:-1] and tty.getvalue().endswith("c\x1b[K\n")
    assert human_bytes(999) == "999 B" and human_bytes(1_500_000) == "1.5 MB" and human_bytes(2 * 10**12) == "2000.0 GB"
