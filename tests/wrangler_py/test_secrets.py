"""`wrangler-py secret put|list|delete`: values round-trip through `.env` and the Kubernetes Secret manifest, both
files stay private, the Secret is the one the rendered pods read, and no value ever reaches the terminal."""

from __future__ import annotations

import argparse
import base64
import io
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

import wrangler_py
from wrangler_py import secrets
from wrangler_py.config import DEFAULT_CONFIG, ConfigError, load_config
from wrangler_py.manifests import dump_yaml, render_manifests, secret_document, secret_references
from wrangler_py.secrets import (
    DotenvStore,
    KubernetesSecretStore,
    SecretError,
    add_secret_parser,
    config_without_secrets,
    dotenv_values,
    encode_dotenv_value,
    environ_with_dotenv,
    open_store,
    secret_manifest_path,
)

CONFIG = """
name = "summit-trail"

[origin]
secret_key = "env:ES_TEST_SECRET_KEY"

[edge]
purge_token = "env:ES_TEST_PURGE_TOKEN"

[env.staging.edge]
port = 9787

[env.production.connectors.search]
vendor = "meilisearch"
url = "env:ES_TEST_MEILI_URL"
api_key = "env:ES_TEST_MEILI_KEY"
"""
NAMES = ["ES_TEST_SECRET_KEY", "ES_TEST_PURGE_TOKEN", "ES_TEST_MEILI_URL", "ES_TEST_MEILI_KEY", "ES_TEST_GREETING"]
CANARY = "CANARY-never-shown-7f3a9c"

# Values that trip dotenv writers and readers: quotes, comment marks, escapes, shell syntax, line breaks of every
# kind, control characters, whitespace at the ends, non-ASCII text.
TRICKY = [
    "plain",
    "sk_live_51H8xYz-abc.def/ghi+jkl",
    "ends=with=equals==",
    "=",
    "with space",
    "  leading and trailing  ",
    " ",
    "#",
    "#starts with hash",
    "value # not a comment",
    "value#not-a-comment-either",
    "'",
    '"',
    "single'quote",
    'double"quote',
    "both ' and \"",
    "'wrapped in singles'",
    '"wrapped in doubles"',
    "\\",
    "back\\slash",
    "\\n is a backslash and an n",
    "trailing backslash\\",
    '\\"',
    "$HOME ${HOME} $(id) `id`",
    "$",
    "line one\nline two",
    "\n",
    "ends with newline\n",
    "\nstarts with newline",
    "crlf\r\nline",
    "\r",
    "tab\there",
    "\x0b\x0c vertical tab and form feed",
    "\x1b[31mansi\x1b[0m",
    "\x7f delete",
    "nel\x85 and\u2028line\u2029separators",
    "ünïcödé 日本語 🎉 \u00a0nbsp",
    "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n",
    'postgres://user:p@ss;w"rd@host:5432/db?sslmode=require#frag',
    "export NOT_A_BINDING=1",
    "KEY=value\nOTHER=injected",
]


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in NAMES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "shop"
    folder.mkdir()
    (folder / DEFAULT_CONFIG).write_text(CONFIG, encoding="utf-8")
    return folder


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def parser() -> argparse.ArgumentParser:
    """The global options as cli.build_parser has them, with `secret` registered the way it registers commands."""
    parser = argparse.ArgumentParser(prog="wrangler-py")
    parser.add_argument("--config", "-c", default=DEFAULT_CONFIG)
    parser.add_argument("--env", "-e", default=None, metavar="NAME")
    with_env = argparse.ArgumentParser(add_help=False)
    with_env.add_argument("--env", "-e", default=argparse.SUPPRESS, metavar="NAME")
    add_secret_parser(parser.add_subparsers(dest="command", required=True), [with_env])
    return parser


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def run(project: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., int]:
    """`wrangler-py --config <project> ARGV` with `stdin` piped in; the exit status."""

    def run(*argv: str, stdin: str | io.StringIO = "") -> int:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin) if isinstance(stdin, str) else stdin)
        args = parser().parse_args(["--config", str(project / DEFAULT_CONFIG), *argv])
        return int(args.func(args))

    return run


def manifest(path: Path) -> dict[str, Any]:
    (doc,) = yaml.safe_load_all(path.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def decoded(path: Path) -> dict[str, str]:
    return {k: base64.b64decode(v).decode("utf-8") for k, v in manifest(path)["data"].items()}


# .env: the format --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", TRICKY, ids=repr)
def test_a_tricky_value_round_trips_through_dotenv(value: str, tmp_path: Path) -> None:
    store = DotenvStore(tmp_path / ".env")
    store.put("BEFORE", "neighbour-1")
    store.put("ES_TEST_GREETING", value)
    store.put("AFTER", "neighbour 2")
    assert dotenv_values(tmp_path, environ={}) == {
        "BEFORE": "neighbour-1",
        "ES_TEST_GREETING": value,
        "AFTER": "neighbour 2",
    }


def test_every_tricky_value_at_once_and_rewritten_in_place(tmp_path: Path) -> None:
    store = DotenvStore(tmp_path / ".env")
    expected = {f"K{i}": value for i, value in enumerate(TRICKY)}
    for name, value in expected.items():
        store.put(name, value)
    assert store.values() == expected
    for name, value in reversed(expected.items()):  # every line replaced by another tricky value
        store.put(name, value[::-1] + "x")
    assert store.values() == {name: value[::-1] + "x" for name, value in expected.items()}
    assert store.names() == sorted(expected)


def test_simple_values_are_written_the_way_every_dotenv_reader_agrees_on() -> None:
    assert encode_dotenv_value("sk_live_abc-123=") == "sk_live_abc-123="
    assert encode_dotenv_value("with space # and hash") == "'with space # and hash'"
    assert encode_dotenv_value("it's\n") == '"it\'s\\n"'


HAND_WRITTEN = (
    "# settings\n"
    "A=plain\n"
    "B = spaced value  # a comment\n"
    "C='single \\' and \\\\ and \\n kept'\n"
    'D="double \\" \\\' \\\\ \\a\\b\\f\\n\\r\\t\\v, and kept: \\$ \\x \\u00e9"\n'
    "E='multi\nline'\n"
    'F="multi\nline too" # after\n'
    "export G=exported\n"
    "H=value#no-comment\n"
    "I=\n"
    "J=''\n"
    "K=${NOT_EXPANDED}\n"
)


def test_a_hand_written_dotenv_reads_as_python_dotenv_reads_it(tmp_path: Path) -> None:
    reference = pytest.importorskip("dotenv")
    (tmp_path / ".env").write_text(HAND_WRITTEN, encoding="utf-8")
    expected = dict(reference.dotenv_values(stream=io.StringIO(HAND_WRITTEN), interpolate=False))
    assert dotenv_values(tmp_path, environ={}) == expected
    assert expected["D"] == "double \" ' \\ \a\b\f\n\r\t\v, and kept: \\$ \\x \\u00e9"


def test_what_is_written_reads_the_same_in_python_dotenv(tmp_path: Path) -> None:
    reference = pytest.importorskip("dotenv")
    store = DotenvStore(tmp_path / ".env")
    expected = {f"K{i}": value for i, value in enumerate(TRICKY)}
    for name, value in expected.items():
        store.put(name, value)
    assert dict(reference.dotenv_values(tmp_path / ".env", interpolate=False)) == expected


def test_other_lines_and_comments_of_an_existing_dotenv_are_kept(tmp_path: Path) -> None:
    original = (
        "# my local settings\n"
        "\n"
        "export DEBUG_SQL=1   # noisy\n"
        "ES_TEST_GREETING=old\n"
        "MULTI='first\n"
        "second'\n"
        '  SPACED = "a b"  \n'
        "# trailing comment without a newline"
    )
    path = tmp_path / ".env"
    path.write_text(original, encoding="utf-8")
    store = DotenvStore(path)
    assert store.values() == {"DEBUG_SQL": "1", "ES_TEST_GREETING": "old", "MULTI": "first\nsecond", "SPACED": "a b"}
    store.put("ES_TEST_GREETING", "new value")
    store.put("ADDED", "x")
    text = path.read_text(encoding="utf-8")
    assert text == original.replace("ES_TEST_GREETING=old", "ES_TEST_GREETING='new value'") + "\nADDED=x\n"
    assert store.delete("MULTI")
    assert "first" not in path.read_text(encoding="utf-8") and "# my local settings\n" in path.read_text()


def test_export_prefix_is_kept_and_duplicates_collapse_into_the_first(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("export K=1\nOTHER=o\nK=2\n", encoding="utf-8")
    store = DotenvStore(path)
    assert store.values()["K"] == "2"  # the last wins, as `source` gives it
    store.put("K", "3")
    assert path.read_text(encoding="utf-8") == "export K=3\nOTHER=o\n"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (f"OK=1\n{CANARY} without equals\n", 2),
        (f'OK=1\n\nK="{CANARY}\nX=1\n', 3),
        (f"K='{CANARY}\n", 1),
        (f'K="x" {CANARY}\n', 1),
        (f"K=x\n{CANARY}", 2),
    ],
)
def test_a_malformed_dotenv_names_the_line_never_its_text(text: str, line: int, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        dotenv_values(tmp_path, environ={})
    (problem,) = caught.value.problems
    assert problem.path == f"line {line}"
    assert CANARY not in str(caught.value)


def test_dotenv_is_created_0600_and_tightened_when_it_was_readable_by_others(tmp_path: Path) -> None:
    store = DotenvStore(tmp_path / ".env")
    store.put("A", "1")
    assert mode(tmp_path / ".env") == 0o600
    (tmp_path / ".env").chmod(0o644)
    store.put("B", "2")
    assert mode(tmp_path / ".env") == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env"]  # no temporary file left behind


def test_a_symlinked_dotenv_stays_a_link_and_its_target_is_written(tmp_path: Path) -> None:
    target = tmp_path / "shared.env"
    target.write_text("A=1\n", encoding="utf-8")
    link = tmp_path / "project" / ".env"
    link.parent.mkdir()
    link.symlink_to(target)
    DotenvStore(link).put("B", "2")
    assert link.is_symlink() and target.read_text(encoding="utf-8") == "A=1\nB=2\n"


def test_values_a_store_cannot_hold_are_refused_without_being_repeated(tmp_path: Path) -> None:
    store = DotenvStore(tmp_path / ".env")
    for name, value in [("K", ""), ("K", "a\0" + CANARY), ("K", "\ud800" + CANARY), ("1K", CANARY), ("K-1", "x")]:
        with pytest.raises(SecretError) as caught:
            store.put(name, value)
        assert CANARY not in str(caught.value)
    assert not (tmp_path / ".env").exists()


# .env in dev -----------------------------------------------------------------------------------------------------


def test_real_environment_variables_win_over_dotenv(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("A=from-file\nB=from-file\n", encoding="utf-8")
    environ = {"B": "exported", "C": "exported"}
    assert dotenv_values(tmp_path, environ=environ) == {"A": "from-file", "B": "exported"}
    assert environ_with_dotenv(tmp_path, environ=environ) == {"A": "from-file", "B": "exported", "C": "exported"}
    assert dotenv_values(tmp_path / "no-such-project", environ=environ) == {}


def test_dotenv_values_reads_the_process_environment_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("ES_TEST_GREETING=from-file\n", encoding="utf-8")
    assert dotenv_values(tmp_path) == {"ES_TEST_GREETING": "from-file"}
    monkeypatch.setenv("ES_TEST_GREETING", "exported")
    assert dotenv_values(tmp_path) == {"ES_TEST_GREETING": "exported"}
    assert environ_with_dotenv(tmp_path)["ES_TEST_GREETING"] == "exported"


def test_a_dev_config_resolves_its_references_through_dotenv(project: Path, run: Callable[..., int]) -> None:
    config = project / DEFAULT_CONFIG
    with pytest.raises(ConfigError):
        load_config(config, environ={})
    assert run("secret", "put", "ES_TEST_SECRET_KEY", stdin="s3cr3t 'key' # with \"everything\"\n") == 0
    assert run("secret", "put", "ES_TEST_PURGE_TOKEN", stdin="token") == 0
    loaded = load_config(config, environ=environ_with_dotenv(project, environ={}))
    assert loaded.config.origin.secret_key is not None and loaded.config.edge.purge_token is not None
    assert loaded.config.origin.secret_key.get_secret_value() == "s3cr3t 'key' # with \"everything\""
    assert loaded.config.edge.purge_token.get_secret_value() == "token"


# Kubernetes Secret manifests -------------------------------------------------------------------------------------


def test_config_without_secrets_names_the_config_before_any_secret_is_set(project: Path) -> None:
    with pytest.raises(ConfigError):
        load_config(project / DEFAULT_CONFIG, environ={}, env="production")
    loaded = config_without_secrets(project / DEFAULT_CONFIG, "production")
    assert loaded.config.name == "summit-trail-production" and loaded.env == "production"
    assert config_without_secrets(project / DEFAULT_CONFIG).config.name == "summit-trail"
    with pytest.raises(ConfigError) as caught:
        config_without_secrets(project / DEFAULT_CONFIG, "prod")
    assert caught.value.source == (project / DEFAULT_CONFIG).resolve()
    assert "production, staging" in str(caught.value)


@pytest.mark.usefixtures("no_network")
@pytest.mark.parametrize("env", ["production", "staging"])
def test_the_secret_manifest_validates_and_is_the_one_the_pods_read(env: str, project: Path) -> None:
    config_path = project / DEFAULT_CONFIG
    store = open_store(config_path, env, namespace="shop")
    text = config_path.read_text(encoding="utf-8")
    values = {name: f"{CANARY}-{name}" for name in secret_references(text, env).values()}
    if "ES_TEST_MEILI_URL" in values:  # a reference in a URL field: the config validates it as one
        values["ES_TEST_MEILI_URL"] = "https://meili.internal:7700/"
    for name, value in values.items():
        store.put(name, value)
    path = project / ".wrangler" / "secrets" / f"{env}.yaml"
    assert store.path == path == secret_manifest_path(project, env)
    doc = manifest(path)
    kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
    kubernetes_validate.validate(doc, "1.30", strict=True)
    assert decoded(path) == values
    assert CANARY not in path.read_text(encoding="utf-8")  # base64 only (an encoding: the file's mode guards it)
    assert doc["type"] == "Opaque" and doc["metadata"]["labels"]["edgeshop/environment"] == env

    loaded = load_config(config_path, environ=values, env=env)
    assert doc["metadata"]["name"] == f"{loaded.config.name}-secrets"
    # What deploy applies: the file's data under a name of its content, which the pods reference.
    deployed = secret_document(loaded.config, store.values(), namespace="shop", environment=env)
    kubernetes_validate.validate(deployed, kubernetes_validate.latest_version(), strict=True)
    assert deployed["metadata"]["name"] == store.deployed_name(values)
    assert deployed["metadata"]["name"].startswith(f"{loaded.config.name}-secrets-")
    docs = render_manifests(
        loaded.config, image="registry.example/shop:1", secret_refs=secret_references(text, env), namespace="shop",
        secret_name=store.deployed_name(values),
    )  # fmt: skip
    refs = {
        (workload["metadata"]["namespace"], env_var["valueFrom"]["secretKeyRef"]["name"], env_var["name"])
        for workload in docs
        if workload["kind"] == "Deployment"
        for env_var in workload["spec"]["template"]["spec"]["containers"][0]["env"]
        if "valueFrom" in env_var
    }
    assert refs == {("shop", deployed["metadata"]["name"], name) for name in values}
    assert {k: base64.b64decode(v).decode() for k, v in deployed["data"].items()} == values


def test_a_rotated_value_is_a_new_secret_name_and_a_new_pod_template(project: Path) -> None:
    """`secret put` of a new value, then deploy: the pods must roll onto it, so their template has to change."""
    config_path = project / DEFAULT_CONFIG
    store = open_store(config_path, "staging")
    store.put("ES_TEST_SECRET_KEY", "first-key")
    store.put("ES_TEST_PURGE_TOKEN", "token")
    refs = secret_references(config_path.read_text(encoding="utf-8"), "staging")
    config = config_without_secrets(config_path, "staging").config

    def pods(secret_name: str) -> str:
        docs = render_manifests(config, image="registry.example/shop:1", secret_refs=refs, secret_name=secret_name)
        return dump_yaml(d for d in docs if d["kind"] == "Deployment")

    before = store.deployed_name(refs.values())
    store.put("ES_TEST_GREETING", "unreferenced")  # the pods never read it: nothing to roll
    assert store.deployed_name(refs.values()) == before
    store.put("ES_TEST_SECRET_KEY", "rotated-key")
    after = store.deployed_name(refs.values())
    assert after != before and after.startswith("summit-trail-staging-secrets-") and len(after) == len(before)
    assert pods(after) != pods(before)
    store.put("ES_TEST_SECRET_KEY", "first-key")  # rolled back: the earlier Secret's name again
    assert store.deployed_name(refs.values()) == before


def test_list_shows_what_the_file_says_and_what_deploy_applies(
    project: Path, run: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("secret", "put", "ES_TEST_SECRET_KEY", "--env", "staging", stdin=CANARY) == 0
    config = project / DEFAULT_CONFIG
    config.write_text(CONFIG + '\n[env.staging.deploy]\nnamespace = "shop"\n', encoding="utf-8")
    capsys.readouterr()
    assert run("secret", "list", "--env", "staging") == 0
    out, err = capsys.readouterr()
    assert "(the file names Secret summit-trail-staging-secrets, namespace default)" in out
    deployed = open_store(config, "staging").deployed_name(secret_references(config.read_text(), "staging").values())
    assert f"applies it as Secret {deployed} in namespace shop" in out
    assert "note: the file names Secret summit-trail-staging-secrets in namespace default, but the pods read" in err
    assert "namespace shop" in err and CANARY not in out + err
    # The next put rewrites the file's metadata: no note any more.
    assert run("secret", "put", "ES_TEST_PURGE_TOKEN", "--env", "staging", stdin="t") == 0
    capsys.readouterr()
    assert run("secret", "list", "--env", "staging") == 0
    out, err = capsys.readouterr()
    assert "namespace shop)" in out and "note:" not in err


def test_the_secret_folder_is_0700_and_the_file_0600(project: Path) -> None:
    (project / ".wrangler" / "secrets").mkdir(parents=True, mode=0o755)
    (project / ".wrangler" / "secrets").chmod(0o755)
    store = open_store(project / DEFAULT_CONFIG, "staging")
    store.put("ES_TEST_SECRET_KEY", "x")
    assert mode(project / ".wrangler" / "secrets") == 0o700
    assert mode(store.path) == 0o600
    assert [p.name for p in store.path.parent.iterdir()] == ["staging.yaml"]


def test_a_hand_edited_secret_keeps_its_extras_and_string_data_gives_way(project: Path) -> None:
    path = secret_manifest_path(project, "staging")
    path.parent.mkdir(parents=True)
    path.write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: old\n  annotations: {team: shop}\n"
        "stringData:\n  ES_TEST_SECRET_KEY: plain\n  ES_TEST_PURGE_TOKEN: plain\n",
        encoding="utf-8",
    )
    store = open_store(project / DEFAULT_CONFIG, "staging")
    assert store.names() == ["ES_TEST_PURGE_TOKEN", "ES_TEST_SECRET_KEY"]
    store.put("ES_TEST_SECRET_KEY", "encoded")
    doc = manifest(path)
    assert doc["metadata"]["annotations"] == {"team": "shop"}
    assert doc["metadata"]["name"] == "summit-trail-staging-secrets" and doc["metadata"]["namespace"] == "default"
    assert doc["stringData"] == {"ES_TEST_PURGE_TOKEN": "plain"} and decoded(path) == {"ES_TEST_SECRET_KEY": "encoded"}
    assert store.delete("ES_TEST_PURGE_TOKEN") and "stringData" not in manifest(path)
    assert not store.delete("ES_TEST_PURGE_TOKEN")


def test_a_file_that_is_not_a_secret_is_refused(project: Path) -> None:
    path = secret_manifest_path(project, "staging")
    path.parent.mkdir(parents=True)
    path.write_text("apiVersion: v1\nkind: ConfigMap\n", encoding="utf-8")
    with pytest.raises(SecretError, match="not a v1 Secret"):
        open_store(project / DEFAULT_CONFIG, "staging").names()


def test_environment_and_namespace_names_are_checked(project: Path) -> None:
    with pytest.raises(SecretError, match="environment"):
        secret_manifest_path(project, "../escape")
    with pytest.raises(SecretError, match="namespace"):
        open_store(project / DEFAULT_CONFIG, "staging", namespace="Not_A_Label")
    with pytest.raises(SecretError, match="Secret name"):
        KubernetesSecretStore(project / "x.yaml", name="Bad_Name", namespace="shop", env="staging", app="x")


# The command -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("piped", "stored"), [("x", "x"), ("x\n", "x"), ("x\r\n", "x"), ("x\n\n", "x\n")])
def test_put_reads_stdin_and_strips_one_trailing_newline(piped: str, stored: str, project: Path, run: Any) -> None:
    assert run("secret", "put", "ES_TEST_SECRET_KEY", stdin=piped) == 0
    assert dotenv_values(project, environ={}) == {"ES_TEST_SECRET_KEY": stored}


@pytest.mark.parametrize("value", [*TRICKY[:12], "", "\nsecond line"], ids=repr)
def test_no_command_ever_shows_the_value(
    value: str, project: Path, run: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    secret = CANARY + value  # recognizable even where the value alone is a common character
    for env in ([], ["--env", "production"]):
        assert run(*env, "secret", "put", "ES_TEST_SECRET_KEY", stdin=secret + "\n") == 0
        assert run(*env, "secret", "put", "ES_TEST_GREETING", stdin=secret) == 0  # unreferenced: warned
        assert run(*env, "secret", "list") == 0
        assert run(*env, "secret", "delete", "ES_TEST_GREETING") == 0
        assert run(*env, "secret", "delete", "ES_TEST_GREETING") == 1
        assert run(*env, "secret", "put", "ES_TEST_PURGE_TOKEN", stdin="") == 1
    out, err = capsys.readouterr()
    assert CANARY not in out and CANARY not in err
    assert "stored ES_TEST_SECRET_KEY" in out and "deleted ES_TEST_GREETING" in out
    assert dotenv_values(project, environ={}) == {"ES_TEST_SECRET_KEY": secret}
    assert decoded(secret_manifest_path(project, "production")) == {"ES_TEST_SECRET_KEY": secret}


def test_put_messages_name_the_store_file_and_the_secret(
    project: Path, run: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("secret", "put", "ES_TEST_MEILI_KEY", "--env", "production", stdin="k") == 0
    path = project.resolve() / ".wrangler" / "secrets" / "production.yaml"
    out = capsys.readouterr().out
    assert f"stored ES_TEST_MEILI_KEY in {path} (Secret summit-trail-production-secrets, namespace default)" in out
    assert "wrangler-py deploy --env production --apply` applies it as Secret summit-trail-production-secrets-" in out
    assert run("--env", "production", "secret", "put", "ES_TEST_MEILI_URL", "--namespace", "shop", stdin="k") == 0
    out, err = capsys.readouterr()
    assert "(Secret summit-trail-production-secrets, namespace shop)" in out
    assert "--namespace shop goes into the file only: deploy applies the Secret in default" in err
    assert manifest(path)["metadata"]["namespace"] == "shop"
    assert run("secret", "put", "ES_TEST_SECRET_KEY", stdin="k") == 0
    assert f"stored ES_TEST_SECRET_KEY in {project.resolve() / '.env'}\n" in capsys.readouterr().out


def test_put_on_a_terminal_asks_twice_without_echo(
    project: Path, run: Callable[..., int], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts: list[str] = []
    answers: Iterator[str] = iter([CANARY, CANARY, CANARY, CANARY + "typo"])

    def fake_getpass(prompt: str = "Password: ", stream: object = None) -> str:
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr(secrets.getpass, "getpass", fake_getpass)
    assert run("secret", "put", "ES_TEST_SECRET_KEY", stdin=Tty("never read")) == 0
    assert prompts == ["value of ES_TEST_SECRET_KEY: ", "ES_TEST_SECRET_KEY again: "]
    assert dotenv_values(project, environ={}) == {"ES_TEST_SECRET_KEY": CANARY}
    assert run("secret", "put", "ES_TEST_PURGE_TOKEN", stdin=Tty()) == 1  # the entries differ
    out, err = capsys.readouterr()
    assert "differ" in err and CANARY not in out + err
    assert "ES_TEST_PURGE_TOKEN" not in dotenv_values(project, environ={})


def test_put_on_a_terminal_abandoned_stores_nothing(
    project: Path, run: Callable[..., int], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(prompt: str = "", stream: object = None) -> str:
        raise KeyboardInterrupt

    def closed(prompt: str = "", stream: object = None) -> str:
        raise EOFError

    monkeypatch.setattr(secrets.getpass, "getpass", interrupted)
    assert run("secret", "put", "ES_TEST_SECRET_KEY", stdin=Tty()) == 130
    monkeypatch.setattr(secrets.getpass, "getpass", closed)
    assert run("secret", "put", "ES_TEST_SECRET_KEY", stdin=Tty()) == 1
    assert not (project / ".env").exists()


def test_an_invalid_name_is_refused_before_the_value_is_read(
    project: Path, run: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    stdin = io.StringIO(CANARY)
    assert run("secret", "put", "NOT-A-NAME", stdin=stdin) == 1
    assert stdin.tell() == 0  # the value was never consumed
    assert "not a variable name" in capsys.readouterr().err
    assert not (project / ".env").exists()


def test_an_unreferenced_name_is_stored_with_a_warning(
    project: Path, run: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("secret", "put", "ES_TEST_GREETING", stdin="hello") == 0
    out, err = capsys.readouterr()
    assert out.startswith("stored ES_TEST_GREETING in ")
    assert 'the top level of the config (no --env) has no "env:ES_TEST_GREETING" reference' in err
    assert dotenv_values(project, environ={}) == {"ES_TEST_GREETING": "hello"}
    # Referenced only under production: the top level warns, production does not.
    assert run("secret", "put", "ES_TEST_MEILI_KEY", stdin="k") == 0
    assert "ES_TEST_MEILI_KEY" in capsys.readouterr().err
    assert run("secret", "put", "ES_TEST_MEILI_KEY", "--env", "production", stdin="k") == 0
    assert capsys.readouterr().err == ""


def test_put_warns_when_the_shell_overrides_dotenv(
    run: Callable[..., int], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ES_TEST_SECRET_KEY", CANARY)
    assert run("secret", "put", "ES_TEST_SECRET_KEY", stdin="v") == 0
    err = capsys.readouterr().err
    assert "also set in this shell's environment" in err and CANARY not in err


def test_list_marks_set_missing_and_unreferenced_names(
    project: Path, run: Callable[..., int], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run("secret", "list", "--env", "production") == 0
    out = capsys.readouterr().out
    assert "not created yet" in out and "4 referenced but not stored" in out
    assert run("secret", "put", "ES_TEST_MEILI_KEY", "--env", "production", stdin=CANARY) == 0
    assert run("secret", "put", "ES_TEST_GREETING", "--env", "production", stdin=CANARY) == 0
    capsys.readouterr()
    assert run("secret", "list", "--env", "production") == 0
    out, err = capsys.readouterr()
    lines = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.startswith("  ES_TEST")}
    assert lines == {
        "ES_TEST_GREETING": ["set", "(not", "referenced)"],
        "ES_TEST_MEILI_KEY": ["set", "connectors.search.api_key"],
        "ES_TEST_MEILI_URL": ["missing", "connectors.search.url"],
        "ES_TEST_PURGE_TOKEN": ["missing", "edge.purge_token"],
        "ES_TEST_SECRET_KEY": ["missing", "origin.secret_key"],
    }
    assert "  wrangler-py secret put ES_TEST_SECRET_KEY --env production" in out
    assert "NAME" in out and "STATUS" in out and CANARY not in out + err
    # In dev, a reference the shell exports resolves too: not missing.
    monkeypatch.setenv("ES_TEST_PURGE_TOKEN", CANARY)
    assert run("secret", "list") == 0
    out = capsys.readouterr().out
    assert "exported" in out.split("ES_TEST_PURGE_TOKEN")[1].splitlines()[0] and CANARY not in out
    assert "1 referenced but not stored" in out


def test_delete_removes_and_an_unknown_name_names_the_store_file(
    project: Path, run: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("secret", "put", "ES_TEST_SECRET_KEY", stdin="v") == 0
    assert run("secret", "delete", "ES_TEST_SECRET_KEY") == 0
    assert dotenv_values(project, environ={}) == {}
    capsys.readouterr()
    assert run("secret", "delete", "ES_TEST_SECRET_KEY") == 1
    assert f"no secret ES_TEST_SECRET_KEY in {project.resolve() / '.env'}" in capsys.readouterr().err
    assert run("secret", "delete", "ES_TEST_SECRET_KEY", "--env", "staging") == 1
    expected = project.resolve() / ".wrangler" / "secrets" / "staging.yaml"
    assert f"no secret ES_TEST_SECRET_KEY in {expected}" in capsys.readouterr().err


def test_option_mistakes_are_reported(run: Callable[..., int], capsys: pytest.CaptureFixture[str]) -> None:
    assert run("secret", "list", "--namespace", "shop") == 2
    assert "--namespace needs --env" in capsys.readouterr().err
    assert run("secret", "list", "--env", "prod") == 1
    assert "no such environment" in capsys.readouterr().err


def test_a_missing_config_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("v"))
    args = parser().parse_args(["--config", str(tmp_path / "nowhere.toml"), "secret", "put", "ES_TEST_SECRET_KEY"])
    assert args.func(args) == 1
    assert not (tmp_path / ".env").exists()


def test_the_scaffold_ignores_both_stores() -> None:
    ignored = (Path(wrangler_py.__file__).parent / "scaffold" / "gitignore").read_text(encoding="utf-8").split()
    assert ".env" in ignored and ".wrangler/" in ignored


def test_check_of_an_environment_reads_its_secret_file(
    project: Path, run: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    """`check --env E` needs no production values on the laptop: what `secret put --env E` stored counts."""
    from wrangler_py.cli import main

    config = str(project / DEFAULT_CONFIG)
    assert main(["--config", config, "check", "--env", "production"]) == 1
    err = capsys.readouterr().err
    assert "environment variable ES_TEST_SECRET_KEY is not set" in err
    assert "fix: wrangler-py secret put ES_TEST_SECRET_KEY --env production" in err
    for name in ("ES_TEST_SECRET_KEY", "ES_TEST_PURGE_TOKEN", "ES_TEST_MEILI_KEY"):
        assert run("secret", "put", name, "--env", "production", stdin=CANARY) == 0
    assert run("secret", "put", "ES_TEST_MEILI_URL", "--env", "production", stdin="https://meili.internal/") == 0
    capsys.readouterr()
    assert main(["--config", config, "check", "--env", "production"]) == 0
    out, err = capsys.readouterr()
    assert "[env production: summit-trail-production]: ok" in out and CANARY not in out + err
