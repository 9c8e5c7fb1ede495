"""Static assets: the URLs templates link them by, the manifest of `wrangler-py build`, how the origin serves them.

Two modes, chosen once when the app is built:

- No manifest (development): `static_url("css/store.css")` is `/static/css/store.css?v=<content hash>`, served
  from the static folders (the project's first, then the package's) with a short cache.
- With the manifest of `wrangler-py build`: `static_url("css/store.css")` is the fingerprinted name on
  `assets_url` (a CDN) or on `/static/`, where the origin serves the built files with an immutable cache. The
  content hash is in the name, so a deploy changes the URL and a cache never has to be told.

An asset name that does not exist raises `UnknownAsset` while the page renders (a 500 in development and in
tests) instead of linking something that answers 404; `wrangler-py build` checks every `static_url('…')` of the
templates against what it built, so a shipped image never meets one.

One model of `asset-manifest.json` (`AssetManifest`), one table of Content-Types (`content_type`) and one
immutable Cache-Control: the build writes them, `wrangler-py deploy` uploads with them, and the origin serves with
them, so a file answers the same from the bucket as from `/static/`. The origin's validators come from content:
an image's files all carry one mtime (reproducible builds), so a stat-based ETag or Last-Modified would not
change when a file does.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import os
import posixpath
import re
import stat
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath
from typing import Literal
from urllib.parse import quote, unquote

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.datastructures import Headers
from starlette.responses import FileResponse, Response
from starlette.staticfiles import NotModifiedResponse, StaticFiles
from starlette.types import Receive, Scope, Send

MANIFEST_VERSION: Literal[1] = 1
# RFC 8246: a fingerprinted file never changes under its name, so caches need not even revalidate it.
IMMUTABLE_CACHE = "public, max-age=31536000, immutable"
# Un-fingerprinted files (development) change under the same name: cache them briefly.
SOURCE_CACHE = "public, max-age=60"
STATIC_PREFIX = "/static/"
MANIFEST_FILE = "asset-manifest.json"
ASSETS_DIR = "assets"  # the fingerprinted files, beside the manifest (in the build output, the image and the bucket)
_HASH_READ = 2**20

# Web types spelled out: mimetypes' answers depend on the host's /etc/mime.types and the Python version. Text types
# name their charset: without one some browsers guess, and get non-ASCII wrong. SVG carries its encoding itself.
_CONTENT_TYPES = {
    "css": "text/css; charset=utf-8",
    "js": "text/javascript; charset=utf-8",
    "mjs": "text/javascript; charset=utf-8",
    "map": "application/json; charset=utf-8",
    "json": "application/json; charset=utf-8",
    "webmanifest": "application/manifest+json; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "txt": "text/plain; charset=utf-8",
    "xml": "application/xml; charset=utf-8",
    "svg": "image/svg+xml",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "avif": "image/avif",
    "ico": "image/vnd.microsoft.icon",
    "woff": "font/woff",
    "woff2": "font/woff2",
    "ttf": "font/ttf",
    "otf": "font/otf",
    "pdf": "application/pdf",
    "mp4": "video/mp4",
    "webm": "video/webm",
    "wasm": "application/wasm",
}
_BUILTIN_TYPES = mimetypes.MimeTypes()  # Python's own table only, never the host's files


class AssetError(Exception):
    """The static assets cannot be used as configured (a broken manifest, a static folder that is a file, …)."""


class UnknownAsset(AssetError, LookupError):
    """A template linked an asset that does not exist."""


def content_type(name: str) -> str:
    """The Content-Type of a static file by its name: the manifest records it, S3 and the origin serve it."""
    base = posixpath.basename(name)
    extension = base.rpartition(".")[2].lower() if "." in base else ""
    if extension in _CONTENT_TYPES:
        return _CONTENT_TYPES[extension]
    guessed, _ = _BUILTIN_TYPES.guess_type("x." + extension) if extension else (None, None)
    if guessed is None:
        return "application/octet-stream"
    return f"{guessed}; charset=utf-8" if guessed.startswith("text/") else guessed


class AssetEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(description="the fingerprinted file, relative to the assets folder: css/store.<hash>.css")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)
    content_type: str = Field(min_length=1)

    @field_validator("path")
    @classmethod
    def _inside(cls, value: str) -> str:
        # The path becomes a file name under assets/ and an S3 key: it must never climb out of either.
        if logical_name(value) != value or "\\" in value:
            raise ValueError(f"{value!r} must be a relative path with / separators and no '.' or '..' parts")
        return value


class AssetManifest(BaseModel):
    """`asset-manifest.json`: each logical name (what templates pass to static_url) and its built file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = MANIFEST_VERSION
    assets: dict[str, AssetEntry] = Field(default_factory=dict)

    def to_json(self) -> bytes:
        """Sorted keys and a final newline: the same manifest is always the same bytes."""
        return (json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def assets_folder(manifest_path: Path) -> Path:
    """The fingerprinted files live in `assets/` beside the manifest, in the build output and in the image alike."""
    return manifest_path.parent / ASSETS_DIR


def read_manifest(path: Path) -> AssetManifest:
    try:
        return AssetManifest.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise AssetError(f"{path}: cannot read the asset manifest ({exc.strerror})") from exc
    except ValidationError as exc:
        raise AssetError(
            f"{path}: not an asset manifest of this version ({exc.error_count()} problem(s)): "
            "run `wrangler-py build` again, or delete the file to serve the static folders as they are"
        ) from exc


def logical_name(path: str) -> str | None:
    """`path` as a name inside a static folder, or None when it could climb out of it (`../x`, `/etc/x`)."""
    pure = PurePosixPath(path)
    if not path or pure.is_absolute() or any(part in ("", ".", "..") for part in path.split("/")):
        return None
    return pure.as_posix()


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# Comments are matched to be skipped; then url(…) in its three spellings, and @import's bare string form.
_CSS_REFERENCE = re.compile(
    r"""/\*.*?\*/"""
    r"""|url\(\s*(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[^)\s'"]*))\s*\)"""
    r"""|@import\s+(?:"(?P<idq>[^"]*)"|'(?P<isq>[^']*)')""",
    re.IGNORECASE | re.DOTALL,
)
_EXTERNAL = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|//|/|#)")  # data:, https:, protocol- or root-relative, #id
_URL_SAFE = "/:@!$&+,;=~"  # quote() leaves letters, digits and _.-~ alone; quotes and parentheses get encoded


def css_references(css: str, name: str) -> list[str]:
    """The static names that the stylesheet `name` refers to by relative URL (url(…) and @import)."""
    found: list[str] = []
    rewrite_css(css, name, lambda target: found.append(target))
    return found


def rewrite_css(css: str, name: str, resolve: Callable[[str], str | None]) -> str:
    """The stylesheet `name` with each relative reference to another static file pointed at what `resolve` returns.

    `resolve(target)` gets the static name a reference points to (`../img/a.svg` in `css/x.css` is `img/a.svg`)
    and returns the fingerprinted path of that file relative to the assets folder, or None to leave the reference
    as written. Absolute, protocol-relative, `data:` and `#fragment` references are never touched, nor ones that
    climb out of the static folder. Query and fragment survive (`font.woff2?#iefix`).
    """
    folder = posixpath.dirname(name)

    def replace(match: re.Match[str]) -> str:
        group = next((g for g in ("dq", "sq", "bare", "idq", "isq") if match.group(g) is not None), None)
        if group is None:
            return match.group(0)  # a comment
        reference = match.group(group)
        cut = min((i for i in (reference.find("?"), reference.find("#")) if i >= 0), default=len(reference))
        path, suffix = reference[:cut], reference[cut:]
        if not path or _EXTERNAL.match(reference):
            return match.group(0)
        target = posixpath.normpath(posixpath.join(folder, unquote(path)))
        if logical_name(target) is None:
            return match.group(0)
        built = resolve(target)
        if built is None:
            return match.group(0)
        relative = quote(posixpath.relpath(built, folder or "."), safe=_URL_SAFE) + suffix
        start, end = match.span(group)
        whole_start = match.start()
        text = match.group(0)
        return text[: start - whole_start] + relative + text[end - whole_start :]

    return _CSS_REFERENCE.sub(replace, css)


class Assets:
    """The `static_url` of one storefront app, and the app that serves `/static/`."""

    __slots__ = ("_urls", "app", "manifest", "static_dirs")

    def __init__(
        self,
        static_dirs: Iterable[Path],
        manifest: AssetManifest | None = None,
        *,
        assets_dir: Path | None = None,
        assets_url: str | None = None,
    ) -> None:
        """`static_dirs` in precedence order; `assets_dir` holds the manifest's built files on this host."""
        self.static_dirs = tuple(static_dirs)
        self.manifest = manifest
        self._urls: dict[str, str] = {}
        if manifest is not None:
            base = assets_url or STATIC_PREFIX
            self._urls = {name: base + entry.path for name, entry in manifest.assets.items()}
        built = None
        if manifest is not None and assets_dir is not None and assets_dir.is_dir():
            built = _CachedFiles([assets_dir], IMMUTABLE_CACHE)
        fingerprinted = frozenset(entry.path for entry in manifest.assets.values()) if manifest else frozenset()
        self.app = StaticAssetsApp(_CachedFiles(self.static_dirs, SOURCE_CACHE), built, fingerprinted)

    def url(self, path: str) -> str:
        """The URL of a static file; the template global `static_url`. Raises UnknownAsset for a missing file."""
        try:
            return self._urls[path]
        except KeyError:
            pass
        if self.manifest is not None:
            raise UnknownAsset(
                f"static_url({path!r}): no such asset in the asset manifest; fix the name, or add the file to the "
                "static folder and run `wrangler-py build` again"
            )
        found = self.source(path)
        if found is None:
            folders = ", ".join(str(folder) for folder in self.static_dirs)
            raise UnknownAsset(f"static_url({path!r}): no such file in the static folders ({folders})")
        # A content hash in the query: a changed file gets a new URL, and the short cache is only a fallback.
        url = self._urls[path] = f"{STATIC_PREFIX}{path}?v={content_hash(found.read_bytes())[:12]}"
        return url

    def source(self, path: str) -> Path | None:
        """The file `path` names in the first static folder that has it."""
        name = logical_name(path)
        if name is None:
            return None
        for folder in self.static_dirs:
            candidate = folder / name
            if candidate.is_file():
                return candidate
        return None

    def stale(self) -> list[str]:
        """Names whose source differs from what the manifest says was built: the manifest predates an edit."""
        if self.manifest is None:
            return []
        assets = self.manifest.assets
        changed = []
        for name, entry in assets.items():
            found = self.source(name)
            if found is None:
                changed.append(name)
                continue
            data = found.read_bytes()
            if name.endswith(".css"):  # the build rewrote its references: compare with what it would write now
                resolved = rewrite_css(
                    data.decode("utf-8", "replace"), name, lambda t: assets[t].path if t in assets else None
                )
                data = resolved.encode()
            if content_hash(data) != entry.sha256:
                changed.append(name)
        return changed


class _CachedFiles(StaticFiles):
    """StaticFiles over several folders, first match wins, each answer with one Cache-Control.

    The ETag is a hash of the file's content, never of its stat: every file of an image has the same mtime, so a
    same-size edit would keep Starlette's `mtime-size` ETag, and a revalidation would answer 304 for changed
    content. No Last-Modified, for the same reason. Hashes are computed in `lookup_path` (a worker thread) and
    kept per path until the file's stat changes.
    """

    def __init__(self, folders: Iterable[Path], cache_control: str) -> None:
        super().__init__(directory=None, check_dir=False)
        self.all_directories = [os.path.realpath(folder) for folder in folders]
        self.cache_control = cache_control
        self._etags: dict[str, tuple[tuple[int, ...], str]] = {}

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        full_path, stat_result = super().lookup_path(path)
        if stat_result is not None and stat.S_ISREG(stat_result.st_mode):
            self._etag(full_path, stat_result)
        return full_path, stat_result

    def _etag(self, full_path: str, stat_result: os.stat_result) -> str:
        # ctime too: it changes with every write, and no one can set it back (utime sets mtime only).
        version = (stat_result.st_ino, stat_result.st_size, stat_result.st_mtime_ns, stat_result.st_ctime_ns)
        cached = self._etags.get(full_path)
        if cached is not None and cached[0] == version:
            return cached[1]
        digest = hashlib.sha256()
        with open(full_path, "rb") as file:
            while chunk := file.read(_HASH_READ):
                digest.update(chunk)
        etag = f'"{digest.hexdigest()[:32]}"'
        self._etags[full_path] = (version, etag)
        return etag

    def file_response(
        self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        name = os.fspath(full_path)
        headers = {"cache-control": self.cache_control, "etag": self._etag(name, stat_result)}
        response = FileResponse(
            name, status_code=status_code, stat_result=stat_result, headers=headers, media_type=content_type(name)
        )
        del response.headers["last-modified"]
        if self.is_not_modified(response.headers, Headers(scope=scope)):
            return NotModifiedResponse(response.headers)
        return response


class StaticAssetsApp:
    """`/static/`: fingerprinted names from the build output (immutable), every other name from the static folders."""

    __slots__ = ("built", "fingerprinted", "sources")

    def __init__(self, sources: StaticFiles, built: StaticFiles | None, fingerprinted: frozenset[str]) -> None:
        self.sources, self.built, self.fingerprinted = sources, built, fingerprinted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        built = self.built
        if built is not None and scope["type"] == "http" and built.get_path(scope) in self.fingerprinted:
            await built(scope, receive, send)
            return
        await self.sources(scope, receive, send)


__all__ = [
    "ASSETS_DIR",
    "IMMUTABLE_CACHE",
    "MANIFEST_FILE",
    "MANIFEST_VERSION",
    "SOURCE_CACHE",
    "AssetEntry",
    "AssetError",
    "AssetManifest",
    "Assets",
    "StaticAssetsApp",
    "UnknownAsset",
    "assets_folder",
    "content_hash",
    "content_type",
    "css_references",
    "logical_name",
    "read_manifest",
    "rewrite_css",
]
