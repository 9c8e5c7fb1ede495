"""The registry: config in, one adapter per capability out, with the fallback each capability asked for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from connectors.cms.contentful import ContentfulContent
from connectors.cms.storyblok import StoryblokContent
from connectors.fallbacks import FallbackSearch, LastGoodContent
from connectors.payments.adyen import AdyenPayments
from connectors.payments.stripe import StripePayments
from connectors.registry import build_connectors
from connectors.search.algolia import AlgoliaSearch
from connectors.search.builtin import BuiltinSearch
from connectors.search.meilisearch import MeilisearchSearch
from connectors.search.typesense import TypesenseSearch
from connectors.settings import ConnectorsSettings

VENDORS: dict[str, dict[str, Any]] = {
    "stripe": {"payments": {"vendor": "stripe", "secret_key": "sk_test_1"}},
    "adyen": {"payments": {"vendor": "adyen", "api_key": "k", "merchant_account": "ShopECOM"}},
    "meilisearch": {"search": {"vendor": "meilisearch", "url": "http://127.0.0.1:7700", "fallback": "builtin"}},
    "algolia": {"search": {"vendor": "algolia", "app_id": "APP1", "api_key": "k", "fallback": "last_result"}},
    "typesense": {
        "search": {"vendor": "typesense", "url": "http://127.0.0.1:8108", "api_key": "k", "fallback": "none"}
    },
    "contentful": {"cms": {"vendor": "contentful", "space_id": "sp", "delivery_token": "t"}},
    "storyblok": {"cms": {"vendor": "storyblok", "token": "t", "fallback": "none"}},
}


@pytest.mark.anyio
@pytest.mark.parametrize("name", sorted(VENDORS))
async def test_each_vendor_is_built_with_its_fallback(name: str, tmp_path: Path) -> None:
    (tmp_path / "content").mkdir()  # the built-in CMS of the capabilities left at builtin
    built = build_connectors(ConnectorsSettings.model_validate(VENDORS[name]), data_dir=tmp_path, project_dir=tmp_path)
    try:
        match name:
            case "stripe":
                assert isinstance(built.payments, StripePayments)
            case "adyen":
                assert isinstance(built.payments, AdyenPayments)
            case "meilisearch":
                assert isinstance(built.search, FallbackSearch) and isinstance(built.search.primary, MeilisearchSearch)
                assert isinstance(built.search.backup, BuiltinSearch)
            case "algolia":
                assert isinstance(built.search, FallbackSearch) and isinstance(built.search.primary, AlgoliaSearch)
                assert built.search.backup is None
            case "typesense":
                assert isinstance(built.search, FallbackSearch) and isinstance(built.search.primary, TypesenseSearch)
            case "contentful":
                assert isinstance(built.cms, LastGoodContent) and isinstance(built.cms.primary, ContentfulContent)
            case "storyblok":
                assert isinstance(built.cms, StoryblokContent)  # fallback = "none": the vendor as it is
        capability = next(iter(VENDORS[name]))
        assert getattr(built, capability).vendor == name
    finally:
        await built.aclose()


def test_unknown_vendors_and_missing_options_are_named() -> None:
    with pytest.raises(ValidationError, match="unknown vendor 'paypal' for payments; choose one of: adyen, builtin"):
        ConnectorsSettings.model_validate({"payments": {"vendor": "paypal"}})
    with pytest.raises(ValidationError, match=r"payments\.secret_key"):
        ConnectorsSettings.model_validate({"payments": {"vendor": "stripe"}})
    with pytest.raises(ValidationError, match=r"search\.index_name"):
        ConnectorsSettings.model_validate({"search": {"vendor": "meilisearch", "url": "http://x", "index_name": "p"}})
