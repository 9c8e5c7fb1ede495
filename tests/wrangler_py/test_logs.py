"""Process logs: one JSON object per line, with context and extras, and no secret, token, card or whole e-mail."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from wrangler_py.logs import configure_logging, escape_controls, log_file, scrub, scrub_value

# Recognizable values: none may survive into a log line.
CANARIES = {
    "stripe_key": "sk_live_CANARYstripe4a4a4a",
    "restricted_key": "rk_test_CANARYrestricted77",
    "webhook_secret": "whsec_CANARYwebhook7b7b7b",
    "adyen_key": "AQEyhmfxCANARYadyenKEY0123456789abcdef",
    "bearer": "CANARYbearerToken.51ab7e",
    "redis_password": "CANARYredisPass9e2d",
    "card": "4242 4242 4242 4242",
    "card_dashed": "5555-5555-5555-4444",
    "card_plain": "378282246310005",
    "email_local": "jane.doe.canary",
    "algolia_key": "CANARYalgolia0b0b0b",
    "password": "CANARYpassw0rd",
}


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"calling stripe with {CANARIES['stripe_key']}", CANARIES["stripe_key"]),
        (f"key {CANARIES['restricted_key']} refused", CANARIES["restricted_key"]),
        (f"signing secret {CANARIES['webhook_secret']}", CANARIES["webhook_secret"]),
        (f"adyen x-api-key {CANARIES['adyen_key']}", CANARIES["adyen_key"]),
        (f"Authorization: Bearer {CANARIES['bearer']}", CANARIES["bearer"]),
        (f"redis://:{CANARIES['redis_password']}@redis.internal:6379/0 unreachable", CANARIES["redis_password"]),
        (f"postgres://shop:{CANARIES['redis_password']}@db/shop", CANARIES["redis_password"]),
        (f"card {CANARIES['card']} declined", CANARIES["card"]),
        (f"card {CANARIES['card_dashed']} declined", CANARIES["card_dashed"]),
        (f"pan={CANARIES['card_plain']}", CANARIES["card_plain"]),
        (f"order for {CANARIES['email_local']}@example.com", CANARIES["email_local"]),
        (f"GET /1/indexes?x-algolia-api-key={CANARIES['algolia_key']}&q=tent", CANARIES["algolia_key"]),
        (f'{{"email": "a@b.co", "password": "{CANARIES["password"]}"}}', CANARIES["password"]),
        (f"token={CANARIES['bearer']}&cv=draft", CANARIES["bearer"]),
    ],
)
def test_scrub_masks_secrets_in_text(text: str, secret: str) -> None:
    cleaned = scrub(text)
    assert secret not in cleaned
    assert secret.replace(" ", "").replace("-", "") not in cleaned.replace(" ", "").replace("-", "")


def test_scrub_keeps_what_is_not_a_secret() -> None:
    # An order number, a SKU, a price in minor units and a timestamp are not cards; the domain of an e-mail stays.
    text = "order 1234567890123 for SKU TENT-2P, total 12995 USD at 1764115200; mail to j***@example.com"
    assert scrub(text) == text
    assert scrub("shopper jane@example.com") == "shopper j***@example.com"


def test_scrub_value_drops_secret_named_fields_and_recurses() -> None:
    fields = {
        "path": "/checkout",
        "api_key": "anything",
        "headers": {"authorization": "Bearer abc", "accept": "text/html", "cookie": "es_cart=123"},
        "cards": [CANARIES["card"]],
    }
    cleaned = scrub_value("fields", fields)
    assert cleaned == {
        "path": "/checkout",
        "api_key": "[redacted]",
        "headers": {"authorization": "[redacted]", "accept": "text/html", "cookie": "[redacted]"},
        "cards": ["[redacted-card]"],
    }


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


@pytest.mark.usefixtures("restore_logging")
def test_json_lines_carry_service_region_context_and_extras(tmp_path: Path) -> None:
    stream = io.StringIO()
    context = {"request_id": "r-1", "trace_id": "0af7651916cd43dd8448eb211c80319c", "market": "eu"}
    path = configure_logging(
        "edge", region="eu-west", fmt="json", log_dir=tmp_path, providers=[lambda: context], stream=stream
    )
    assert path == log_file(tmp_path, "edge", "eu-west")
    log = logging.getLogger("edgeshop.test")
    log.info("served %s", "/p/tent", extra={"status": 200, "duration_ms": 0.42, "authorization": "Bearer x"})
    try:
        raise RuntimeError(f"vendor refused {CANARIES['stripe_key']}")
    except RuntimeError:
        log.exception("payment failed for %s@example.com", CANARIES["email_local"])

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["msg"] for line in lines] == ["served /p/tent", "payment failed for j***@example.com"]
    first = lines[0]
    assert first["service"] == "edge" and first["region"] == "eu-west" and first["level"] == "info"
    assert first["request_id"] == "r-1" and first["trace_id"] == context["trace_id"] and first["market"] == "eu"
    assert first["status"] == 200 and first["duration_ms"] == 0.42 and first["authorization"] == "[redacted]"
    assert first["ts"].endswith("Z")
    assert "RuntimeError" in lines[1]["exc"]
    # The file gets the same JSON lines as the console, for `wrangler-py tail`.
    written = path.read_text(encoding="utf-8") if path else ""
    assert [json.loads(line)["msg"] for line in written.splitlines()] == [line["msg"] for line in lines]
    everything = stream.getvalue() + written
    for secret in CANARIES.values():
        assert secret not in everything


@pytest.mark.usefixtures("restore_logging")
def test_text_format_is_scrubbed_too() -> None:
    stream = io.StringIO()
    configure_logging("origin", fmt="text", stream=stream)
    logging.getLogger("edgeshop.test").warning("retrying with Bearer %s", CANARIES["bearer"])
    assert CANARIES["bearer"] not in stream.getvalue()
    assert "WARNING edgeshop.test: retrying with Bearer [redacted]" in stream.getvalue()


@pytest.mark.usefixtures("restore_logging")
def test_disabled_levels_are_not_formatted() -> None:
    calls = []

    def provider() -> dict[str, str]:
        calls.append(1)
        return {"request_id": "r"}

    configure_logging("edge", level="warning", fmt="json", providers=[provider], stream=io.StringIO())
    logging.getLogger("edgeshop.access").info("GET / 200")
    assert calls == []


@pytest.mark.usefixtures("restore_logging")
def test_control_characters_cannot_forge_lines_or_drive_a_terminal() -> None:
    stream = io.StringIO()
    configure_logging("origin", fmt="text", stream=stream)
    logging.getLogger("edgeshop.test").warning("GET %s 404", "/x\x1b]0;pwned\x07\nERROR forged \x9b2J")
    assert stream.getvalue() == "WARNING edgeshop.test: GET /x\\x1b]0;pwned\\x07\\x0aERROR forged \\x9b2J 404\n"
    assert escape_controls("tab\there") == "tab\\x09here"
