r"""`wrangler-py secret put|list|delete NAME`: secret values kept where the deployment reads them.

Two stores, chosen by `--env`:

- without it, the project's `.env` (dotenv `NAME=value` lines) for `wrangler-py dev`: `dotenv_values` and
  `environ_with_dotenv` let the config loader resolve `"env:NAME"` references from it, the real environment
  winning over the file;
- with `--env E`, a Kubernetes Secret manifest `.wrangler/secrets/E.yaml` (`<config.name>-secrets`, in the
  environment's `[deploy] namespace`). It is the source: `wrangler-py deploy --env E` renders its data into an
  immutable Secret named after its content (`<config.name>-secrets-<hash10>`, `manifests.secret_document`), which
  the pods reference, so a rotated value rolls the pods. `secret list` shows what the file itself says.

Both files are written whole to a temporary file and renamed over the old one (a crash leaves the old file or the
new one, never half of either), with mode 0600. A value is never printed, logged or put into an exception.

The `.env` format is python-dotenv's, read without interpolation: `NAME=value`, optionally after `export `;
blank and `#` lines are kept as written. A value is unquoted (an inline comment starts at a `#` after whitespace),
in single quotes (escapes: `\\ \'`) or in double quotes (escapes: `\\ \' \" \a \b \f \n \r \t \v`); any other
backslash is kept with the character after it, and quoted values may span lines. `${VAR}` is never expanded
(python-dotenv's default would, and offers no escape against it): what is written is what is read back.
The writer picks the first form that holds the value: unquoted for plain tokens, single quotes for printable text
without `'` or a backslash, double quotes for the rest, so that dotenv readers which differ on escapes agree on
what most values read as.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import getpass
import os
import re
import sys
import tempfile
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

from wrangler_py.config import ConfigError, LoadedConfig, Problem, parse_config
from wrangler_py.deploy_settings import is_dns_label, is_dns_subdomain, is_label_value
from wrangler_py.manifests import (
    ENVIRONMENT_LABEL,
    dump_yaml,
    kubernetes_secret_name,
    secret_references,
    versioned_secret_name,
)

DOTENV_FILE = ".env"
SECRETS_DIR = Path(".wrangler") / "secrets"  # relative to the project folder: <env>.yaml per environment
DEFAULT_NAMESPACE = "default"
# A stand-in for every referenced variable while only the config's shape is needed (names, not values). URL-shaped:
# references also sit in URL fields (a vendor's `url`), and a URL is a valid string and SecretStr as well.
PLACEHOLDER = "https://wrangler-py-placeholder.invalid/"

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # what `env:NAME` accepts and a Kubernetes Secret key allows
_UNSET = re.compile(r"environment variable (?P<name>[A-Za-z_][A-Za-z0-9_]*) is not set")  # config.py's problem
_BINDING = re.compile(r"[ \t]*(?P<export>export[ \t]+)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*")
_AFTER_QUOTE = re.compile(r"[ \t]*(#[^\n]*)?\r?(\n|$)")
_UNQUOTED = re.compile(r"[A-Za-z0-9_./:@+,%=-]+")  # no shell, dotenv or YAML meaning in any reader
_SINGLE_ESCAPES = {"\\": "\\", "'": "'"}
_DOUBLE_ESCAPES = {
    **_SINGLE_ESCAPES,
    '"': '"',
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
}
_ENCODE = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


class SecretError(Exception):
    """A secret cannot be stored, found or read; the message names the file and never holds a value."""


def check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise SecretError(f"{name!r} is not a variable name: letters, digits and _, not starting with a digit")


def check_value(name: str, value: str) -> None:
    if not value:
        raise SecretError(f"refusing an empty value for {name}")
    if "\0" in value:
        raise SecretError(f"the value of {name} holds a NUL character, which no environment variable can")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise SecretError(f"the value of {name} is not valid Unicode text") from None


# .env ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Binding:
    name: str
    value: str
    raw: str  # as written, newline included: lines of other bindings are written back untouched
    export: bool


def _dotenv_problem(path: Path, text: str, pos: int, message: str) -> ConfigError:
    # The line number, never the line: it may hold a secret.
    line = text.count("\n", 0, pos) + 1
    return ConfigError(path, [Problem(f"line {line}", message, "write NAME=value, quoting the value when needed")])


def _quoted(text: str, pos: int, path: Path, line_start: int) -> tuple[str, int]:
    """The value whose opening quote is at `pos`, and the index just after its closing quote."""
    quote = text[pos]
    escapes = _DOUBLE_ESCAPES if quote == '"' else _SINGLE_ESCAPES
    out: list[str] = []
    i = pos + 1
    while i < len(text):
        char = text[i]
        if char == quote:
            return "".join(out), i + 1
        if char == "\\" and i + 1 < len(text):
            # The pair is taken whole, decoded or not, so that an escaped quote never closes the value.
            pair = text[i + 1]
            out.append(escapes.get(pair, char + pair))
            i += 2
            continue
        out.append(char)
        i += 1
    raise _dotenv_problem(path, text, line_start, "a quoted value is never closed")


def _parse_dotenv(text: str, path: Path) -> list[_Binding | str]:
    """The file as bindings and raw chunks (blank lines, comments), in order: joined raw, the same text."""
    items: list[_Binding | str] = []
    pos = 0
    while pos < len(text):
        newline = text.find("\n", pos)
        line_end = len(text) if newline == -1 else newline + 1
        line = text[pos:line_end]
        if not line.strip() or line.lstrip().startswith("#"):
            items.append(line)
            pos = line_end
            continue
        match = _BINDING.match(text, pos)
        if match is None or match.end() > line_end:
            raise _dotenv_problem(path, text, pos, "not a NAME=value line")
        start = match.end()
        quote = text[start : start + 1]
        if quote in ('"', "'"):
            value, end = _quoted(text, start, path, pos)
            tail = _AFTER_QUOTE.match(text, end)
            if tail is None:
                raise _dotenv_problem(path, text, end, "text after the closing quote")
            line_end = tail.end()
        else:
            rest = text[start:line_end].rstrip("\n").rstrip("\r")
            value = re.sub(r"\s+#.*", "", rest).rstrip()
        items.append(_Binding(match["name"], value, text[pos:line_end], bool(match["export"])))
        pos = line_end
    return items


def encode_dotenv_value(value: str) -> str:
    """The value as written after `NAME=`: reads back as the same string."""
    if _UNQUOTED.fullmatch(value):
        return value
    if value.isprintable() and "'" not in value and "\\" not in value:
        return f"'{value}'"
    return '"' + "".join(_ENCODE.get(char, char) for char in value) + '"'


def write_private(path: Path, data: bytes) -> None:
    """Replace `path` by `data` atomically, mode 0600 (mkstemp's), fsynced: a crash never leaves half a file."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    try:
        folder = os.open(path.parent, os.O_RDONLY)
    except OSError:  # a platform that cannot open folders (Windows): the rename is what it offers
        return
    try:
        os.fsync(folder)  # the rename itself survives a power loss
    finally:
        os.close(folder)


class SecretStore(Protocol):
    """Where `wrangler-py secret` keeps the values of one environment."""

    path: Path

    def describe(self) -> str:
        """The file, and what it becomes (for messages)."""
        ...

    def names(self) -> list[str]:
        """The stored variable names, sorted."""
        ...

    def put(self, name: str, value: str) -> None: ...

    def delete(self, name: str) -> bool:
        """False when the name is not stored (nothing changes)."""
        ...


class DotenvStore:
    """The project's `.env`: other lines, comments included, are written back as they were."""

    HEADER = "# Local secrets for `wrangler-py dev`, written by `wrangler-py secret put`. Never commit this file.\n"

    def __init__(self, path: Path) -> None:
        # Through a symlink, the file it points to is the one rewritten (the link stays a link).
        self.path = path.resolve() if path.is_symlink() else path

    def describe(self) -> str:
        return str(self.path)

    def _items(self) -> list[_Binding | str]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        try:
            text = data.decode("utf-8-sig")  # newlines as they are: a "\r" inside a quoted value is content
        except UnicodeDecodeError:
            raise ConfigError(self.path, [Problem("(file)", "not UTF-8 text", "save the file as UTF-8")]) from None
        return _parse_dotenv(text, self.path)

    def values(self) -> dict[str, str]:
        """Every binding; a name written twice has its last value, as a shell's `source` gives it."""
        return {item.name: item.value for item in self._items() if isinstance(item, _Binding)}

    def names(self) -> list[str]:
        return sorted(self.values())

    def _write(self, items: list[_Binding | str]) -> None:
        text = "".join(item if isinstance(item, str) else item.raw for item in items)
        write_private(self.path, text.encode("utf-8"))

    def put(self, name: str, value: str) -> None:
        check_name(name)
        check_value(name, value)
        items = self._items()
        if not items:
            items = [self.HEADER]
        updated: list[_Binding | str] = []
        done = False
        for item in items:
            if isinstance(item, _Binding) and item.name == name:
                if not done:  # in place of the first; later duplicates would override it, so they go
                    prefix = "export " if item.export else ""
                    updated.append(_Binding(name, value, f"{prefix}{name}={encode_dotenv_value(value)}\n", item.export))
                    done = True
                continue
            updated.append(item)
        if not done:
            last = updated[-1] if updated else "\n"
            if not (last if isinstance(last, str) else last.raw).endswith("\n"):
                updated.append("\n")
            updated.append(_Binding(name, value, f"{name}={encode_dotenv_value(value)}\n", False))
        self._write(updated)

    def delete(self, name: str) -> bool:
        items = self._items()
        kept = [item for item in items if not (isinstance(item, _Binding) and item.name == name)]
        if len(kept) == len(items):
            return False
        self._write(kept)
        return True


def _process_environ() -> Mapping[str, str]:
    # Besides config.py, the one read of the environment: `.env` only extends it, and what is exported wins.
    return os.environ


def dotenv_values(project_dir: Path | str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables the project's `.env` sets (none without the file), each taken from `environ` (default: the
    process environment) where that sets it too: a real variable wins over the file's. ConfigError for a line
    that is not `NAME=value`."""
    environ = _process_environ() if environ is None else environ
    values = DotenvStore(Path(project_dir) / DOTENV_FILE).values()
    return {name: environ.get(name, value) for name, value in values.items()}


def environ_with_dotenv(project_dir: Path | str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """`environ` (default: the process environment) completed by the project's `.env`: for `load_config(environ=)`."""
    environ = _process_environ() if environ is None else environ
    return {**dotenv_values(project_dir, environ), **environ}


# Kubernetes Secret manifests -------------------------------------------------------------------------------------


def _references(path: Path, env: str | None) -> tuple[str, dict[str, str]]:
    """The file's text and its `"env:NAME"` references under `env` (key path -> name); ConfigError if unreadable."""
    if not path.is_file():
        raise ConfigError(path, [Problem("(file)", "no such file", "run from the project folder or pass --config")])
    text = path.read_text(encoding="utf-8")
    try:
        return text, secret_references(text, env)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, [Problem("(file)", f"not valid TOML: {exc}", "fix the syntax at that line")]) from exc
    except ConfigError as exc:  # an unknown environment: the same problems, named against the real file
        raise ConfigError(path, exc.problems) from exc


def config_without_secrets(path: Path | str, env: str | None = None) -> LoadedConfig:
    """The config as `load_config(path, env=env)` gives it, with a placeholder for every referenced variable.

    For what a config says apart from its secrets (its name, for the Secret's) while they are not set yet: its
    secret fields hold the placeholder, so never run anything with it. ConfigError for any other problem.
    """
    source = Path(path).resolve()
    text, refs = _references(source, env)
    environ = dict.fromkeys(refs.values(), PLACEHOLDER)
    return LoadedConfig(config=parse_config(text, source, environ, env), path=source, env=env)


def load_with_secret_file(config_path: Path | str, env: str) -> LoadedConfig:
    """The config of `env` as its pods load it, for `check --env`: references resolve from the shell, else from
    the environment's Secret file, never asking for production values on a laptop. A reference neither sets is
    a problem whose fix is `wrangler-py secret put NAME --env <env>`."""
    from wrangler_py.config import load_config

    source = Path(config_path).resolve()
    try:
        stored = secret_file_values(source.parent, env)
    except SecretError as exc:
        raise ConfigError(source, [Problem(f"env.{env}", str(exc), "fix the file, or rename the environment")]) from exc
    try:
        return load_config(source, {**stored, **_process_environ()}, env=env)
    except ConfigError as exc:
        problems = [
            dataclasses.replace(problem, fix=f"wrangler-py secret put {unset['name']} --env {env} (or export it)")
            if (unset := _UNSET.fullmatch(problem.message))
            else problem
            for problem in exc.problems
        ]
        raise ConfigError(exc.source, problems) from exc


def secret_manifest_path(project_dir: Path | str, env: str) -> Path:
    """Where `secret put --env <env>` keeps that environment's Secret: for `deploy` to apply before the workloads."""
    if not env or not is_label_value(env):  # a label value: never empty, never a path
        raise SecretError(f"environment {env!r}: letters, digits, '-', '_' and '.' only (a Kubernetes label value)")
    return Path(project_dir) / SECRETS_DIR / f"{env}.yaml"


def _secret_file(path: Path) -> dict[str, Any]:
    """The Secret manifest at `path` ({} when there is none); SecretError for anything else, never quoting it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        raise SecretError(f"{path} is not valid YAML; fix it or move it away") from None  # no excerpts
    if not isinstance(doc, dict) or doc.get("kind") != "Secret" or doc.get("apiVersion") != "v1":
        raise SecretError(f"{path} is not a v1 Secret manifest; fix it or move it away")
    for key in ("metadata", "data", "stringData"):
        if not isinstance(doc.get(key) or {}, dict):
            raise SecretError(f"{path}: {key} is not a mapping")
    return doc


def _decoded(doc: dict[str, Any], path: Path) -> dict[str, str]:
    """Every value of the document, `stringData` over `data` as the API server merges them."""
    values: dict[str, str] = {}
    for name, encoded in (doc.get("data") or {}).items():
        try:
            values[str(name)] = base64.b64decode(str(encoded), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise SecretError(f"{path}: data.{name} is not base64 of UTF-8 text") from None
    values.update({str(name): str(value) for name, value in (doc.get("stringData") or {}).items()})
    return values


def secret_file_values(project_dir: Path | str, env: str) -> dict[str, str]:
    """The values `secret put --env <env>` stored (none without the file): for deploy's and check's own use,
    never for printing."""
    path = secret_manifest_path(project_dir, env)
    return _decoded(_secret_file(path), path)


class KubernetesSecretStore:
    """One environment's `Secret` manifest. Values are base64 in `data` (an encoding, not encryption: the file's
    mode and .gitignore are what keep it private). Documents are rewritten with the current name and namespace.

    `name` and `namespace` are what the pods use (the name before deploy's content hash); the file's own
    metadata may say otherwise when the config changed since the last `put`: `file_metadata` tells.
    """

    HEADER = (
        "# The {env} environment's secrets, written by `wrangler-py secret put|delete --env {env}`. Values are\n"
        "# base64, an encoding, not encryption: never commit this file. `wrangler-py deploy --env {env}` applies\n"
        "# its data as an immutable Secret named after its content (<name>-<hash>), which the pods reference.\n"
    )

    def __init__(
        self, path: Path, *, name: str, namespace: str, env: str, app: str, deploy_namespace: str | None = None
    ) -> None:
        """`namespace` goes into the file; `deploy_namespace` (default: the same) is where deploy applies it."""
        for given in {namespace, deploy_namespace or namespace}:
            if not is_dns_label(given):
                raise SecretError(f"namespace {given!r} is not a DNS label (a letter first, 63 characters at most)")
        if not is_dns_subdomain(name):
            raise SecretError(f"Secret name {name!r} is not a DNS subdomain")
        self.path, self.name, self.namespace, self.env, self.app = path, name, namespace, env, app
        self.deploy_namespace = deploy_namespace or namespace

    def describe(self) -> str:
        return f"{self.path} (Secret {self.name}, namespace {self.namespace})"

    def _document(self) -> dict[str, Any]:
        return _secret_file(self.path)

    def file_metadata(self) -> tuple[str | None, str | None]:
        """The name and namespace the file itself says (None for what it leaves out, or no file)."""
        metadata = self._document().get("metadata") or {}
        name, namespace = metadata.get("name"), metadata.get("namespace")
        return (str(name) if name else None), (str(namespace) if namespace else None)

    def names(self) -> list[str]:
        doc = self._document()
        return sorted({*(doc.get("data") or {}), *(doc.get("stringData") or {})})

    def values(self) -> dict[str, str]:
        """Every stored value, for `deploy` to render the Secret from; never for printing."""
        return _decoded(self._document(), self.path)

    def value(self, name: str) -> str | None:
        """One stored value, for `deploy`'s own calls (the CDN purge token); never for printing."""
        return self.values().get(name)

    def deployed_values(self, referenced: Iterable[str]) -> dict[str, str]:
        """What `deploy` puts into the Secret: the stored values the config references (the pods read only
        those), so storing or rotating an unreferenced one rolls nothing. Never for printing."""
        wanted = set(referenced)
        return {name: value for name, value in self.values().items() if name in wanted}

    def deployed_name(self, referenced: Iterable[str]) -> str:
        """The Secret `deploy` applies from this file's data: named after that content."""
        return versioned_secret_name(self.name, self.deployed_values(referenced))

    def _write(self, doc: dict[str, Any]) -> None:
        metadata = doc["metadata"] = dict(doc.get("metadata") or {})
        metadata["name"], metadata["namespace"] = self.name, self.namespace
        metadata["labels"] = {
            **(metadata.get("labels") or {}),
            "app.kubernetes.io/name": self.app,
            "app.kubernetes.io/part-of": "edgeshop",
            "app.kubernetes.io/managed-by": "wrangler-py",
            ENVIRONMENT_LABEL: self.env,
        }
        doc.setdefault("type", "Opaque")
        if not doc.get("stringData"):
            doc.pop("stringData", None)
        folder = self.path.parent
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)  # also when it existed: the folder listing names every environment's file
        write_private(self.path, (self.HEADER.format(env=self.env) + dump_yaml([doc])).encode("utf-8"))

    def put(self, name: str, value: str) -> None:
        check_name(name)
        check_value(name, value)
        doc = self._document() or {"apiVersion": "v1", "kind": "Secret", "type": "Opaque"}
        doc["data"] = {**(doc.get("data") or {}), name: base64.b64encode(value.encode("utf-8")).decode("ascii")}
        (doc.get("stringData") or {}).pop(name, None)  # it would win over data when applied
        self._write(doc)

    def delete(self, name: str) -> bool:
        doc = self._document()
        found = False
        for key in ("data", "stringData"):
            if name in (doc.get(key) or {}):
                del doc[key][name]
                found = True
        if found:
            doc["data"] = doc.get("data") or {}
            self._write(doc)
        return found


def open_store(
    config_path: Path | str,
    env: str | None = None,
    *,
    namespace: str | None = None,
    secret_name: str | None = None,
) -> SecretStore:
    """The store of `env`: the project's `.env` without one, else its Secret manifest in `namespace`.

    `namespace` and `secret_name` default to what the pods use: the environment's `[deploy] namespace` and
    `[deploy.kubernetes] secret_name` (else `<config.name>-secrets`).
    """
    project_dir = Path(config_path).resolve().parent
    if env is None:
        return DotenvStore(project_dir / DOTENV_FILE)
    path = secret_manifest_path(project_dir, env)
    config = config_without_secrets(config_path, env).config
    name = secret_name or kubernetes_secret_name(config)
    return KubernetesSecretStore(
        path,
        name=name,
        namespace=namespace or config.deploy.namespace,
        env=env,
        app=config.name,
        deploy_namespace=config.deploy.namespace,
    )


# The command -----------------------------------------------------------------------------------------------------


def read_value(name: str) -> str:
    """The value from stdin: asked twice without echo on a terminal, else all of it less one trailing newline."""
    stdin = sys.stdin
    if stdin is None:
        raise SecretError(f"no standard input to read the value of {name} from")
    if stdin.isatty():
        first = getpass.getpass(f"value of {name}: ")
        if getpass.getpass(f"{name} again: ") != first:
            raise SecretError(f"the two entries of {name} differ; nothing was stored")
        return first
    try:
        value = stdin.read()
    except UnicodeDecodeError:
        raise SecretError(f"the value of {name} on stdin is not UTF-8 text") from None
    # `echo x |` and `printf 'x' |` give the same secret; so does a Windows pipe's CRLF.
    for ending in ("\r\n", "\n"):
        if value.endswith(ending):
            return value[: -len(ending)]
    return value


def _where(env: str | None) -> str:
    return f"environment {env}" if env else "the top level of the config (no --env)"


def _put(args: argparse.Namespace, store: SecretStore, refs: Mapping[str, str]) -> int:
    name: str = args.variable
    check_name(name)  # before asking for a value that could not be stored
    value = read_value(name)
    store.put(name, value)
    print(f"stored {name} in {store.describe()}")
    err = sys.stderr
    if name not in refs.values():
        print(f'warning: {_where(args.env)} has no "env:{name}" reference; stored anyway', file=err)
    if isinstance(store, DotenvStore) and name in _process_environ():
        print(f"warning: {name} is also set in this shell's environment, which wins over {DOTENV_FILE}", file=err)
    if isinstance(store, KubernetesSecretStore):
        _deployed_as(store, refs, note=False)  # put has just written the metadata (a --namespace of its own is warned)
    return 0


def _deployed_as(store: KubernetesSecretStore, refs: Mapping[str, str], *, note: bool = True) -> None:
    """What deploy makes of the file, and where the file's own metadata says something else."""
    print(
        f"  `wrangler-py deploy --env {store.env} --apply` applies it as Secret {store.deployed_name(refs.values())} "
        f"in namespace {store.deploy_namespace}, named after its content: the pods roll onto it"
    )
    name, namespace = store.file_metadata()
    if note and (name, namespace) != (store.name, store.deploy_namespace):
        print(
            f"note: the file names Secret {name or '(none)'} in namespace {namespace or '(none)'}, but the pods read "
            f"{store.name}-<hash> in namespace {store.deploy_namespace} ([deploy] namespace, "
            "[deploy.kubernetes] secret_name): deploy uses only the file's data, with the pods' name and namespace; "
            "the next `secret put` rewrites the file's metadata",
            file=sys.stderr,
        )


def _list(args: argparse.Namespace, store: SecretStore, refs: Mapping[str, str]) -> int:
    stored = set(store.names())
    # In dev a reference also resolves from the shell: say so rather than call it missing.
    exported = set(_process_environ()) if isinstance(store, DotenvStore) else set()
    by_name: dict[str, list[str]] = {}
    for path, name in sorted(refs.items()):
        by_name.setdefault(name, []).append(path)
    if isinstance(store, KubernetesSecretStore):
        # What the file itself says, which deploy's Secret may differ from (a namespace changed since).
        file_name, file_namespace = store.file_metadata()
        said = f" (the file names Secret {file_name}, namespace {file_namespace})"
        said = said if store.path.exists() else ", not created yet"
        print(f"secrets of {_where(args.env)} in {store.path}{said}:")
    else:
        exists = "" if store.path.exists() else ", not created yet"
        print(f"secrets of {_where(args.env)} in {store.describe()}{exists}:")
    rows = [
        (
            name,
            "set" if name in stored else "exported" if name in exported else "missing",
            ", ".join(by_name.get(name, [])) or "(not referenced)",
        )
        for name in sorted(stored | set(by_name))
    ]
    if not rows:
        print("  (none stored, none referenced)")
        return 0
    width = max(len("NAME"), *(len(name) for name, _, _ in rows))
    print(f"  {'NAME':<{width}}  {'STATUS':<8}  REFERENCED BY")
    for name, status, paths in rows:
        print(f"  {name:<{width}}  {status:<8}  {paths}")
    if any(status == "exported" for _, status, _ in rows):
        print(f"exported: not in {DOTENV_FILE}, but set in this shell's environment (which wins over the file)")
    if isinstance(store, KubernetesSecretStore) and store.path.exists():
        _deployed_as(store, refs)
    missing = [name for name, status, _ in rows if status == "missing"]
    if missing:
        env = f" --env {args.env}" if args.env else ""
        print(f"{len(missing)} referenced but not stored; store each with:")
        for name in missing:
            print(f"  wrangler-py secret put {name}{env}")
    return 0


def _delete(args: argparse.Namespace, store: SecretStore, refs: Mapping[str, str]) -> int:
    name: str = args.variable
    check_name(name)
    if not store.delete(name):
        raise SecretError(f"no secret {name} in {store.describe()}")
    print(f"deleted {name} from {store.describe()}")
    return 0


def cmd_secret(args: argparse.Namespace) -> int:
    """`secret put|list|delete` on the store of `--env` (none: the project's .env)."""
    env: str | None = getattr(args, "env", None)
    if args.namespace is not None and env is None:
        print(f"wrangler-py secret: --namespace needs --env (without it, secrets go to {DOTENV_FILE})", file=sys.stderr)
        return 2
    try:
        store = open_store(Path(args.config), env, namespace=args.namespace)
        _, refs = _references(Path(args.config).resolve(), env)
        if isinstance(store, KubernetesSecretStore) and store.namespace != store.deploy_namespace:
            print(f"warning: --namespace {store.namespace} goes into the file only: deploy applies the Secret in "
                  f"{store.deploy_namespace}, the environment's [deploy] namespace", file=sys.stderr)  # fmt: skip
        commands = {"put": _put, "list": _list, "delete": _delete}
        return commands[args.secret_command](args, store, refs)
    except (SecretError, ConfigError) as exc:
        print(f"wrangler-py secret {args.secret_command}: {exc}", file=sys.stderr)
        return 1
    except EOFError:  # Ctrl-D at the prompt
        print(f"\nwrangler-py secret {args.secret_command}: no value given; nothing was stored", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(file=sys.stderr)  # off the prompt's line
        return 130


def add_secret_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], parents: Sequence[argparse.ArgumentParser]
) -> None:
    """Register `secret put|list|delete`; `parents` carry the `--env` option accepted after the command."""
    secret = sub.add_parser(
        "secret",
        parents=list(parents),
        help="store secrets where the deployment reads them: .env in dev, a Kubernetes Secret with --env",
        description="Values come from stdin (asked without echo on a terminal) and are never printed.",
    )
    secret_sub = secret.add_subparsers(dest="secret_command", required=True)
    namespace_help = (
        "the namespace written into the Secret file (--env only; default: the environment's [deploy] namespace, "
        "where deploy applies it in any case)"
    )
    for command, help_text in (
        ("put", "store NAME's value, read from stdin"),
        ("list", "names of the stored and referenced secrets, never values"),
        ("delete", "remove NAME"),
    ):
        parser = secret_sub.add_parser(command, parents=list(parents), help=help_text)
        if command != "list":
            parser.add_argument("variable", metavar="NAME", help="the variable an env:NAME reference names")
        parser.add_argument("--namespace", default=None, help=namespace_help)
    secret.set_defaults(func=cmd_secret)


__all__ = [
    "DEFAULT_NAMESPACE",
    "DOTENV_FILE",
    "SECRETS_DIR",
    "DotenvStore",
    "KubernetesSecretStore",
    "SecretError",
    "SecretStore",
    "add_secret_parser",
    "check_name",
    "check_value",
    "cmd_secret",
    "config_without_secrets",
    "dotenv_values",
    "encode_dotenv_value",
    "environ_with_dotenv",
    "kubernetes_secret_name",
    "load_with_secret_file",
    "open_store",
    "read_value",
    "secret_file_values",
    "secret_manifest_path",
    "write_private",
]
