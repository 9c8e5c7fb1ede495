"""Settings of the connector layer: which vendor serves each capability, with that vendor's options.

`[connectors.<capability>]` holds `vendor = "<name>"` and the options of that vendor only. The vendor name
picks the options model from `VENDOR_SETTINGS`, so an unknown vendor or an option another vendor would take
is reported with the valid choices.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

Capability = Literal["commerce", "search", "cms", "payments"]


class VendorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    vendor: str


class BuiltinCommerceSettings(VendorSettings):
    vendor: Literal["builtin"] = "builtin"
    database: str = Field(default="commerce.sqlite3", description="SQLite file, relative to origin.data_dir")


class BuiltinSearchSettings(VendorSettings):
    vendor: Literal["builtin"] = "builtin"
    database: str = Field(default="search.sqlite3", description="SQLite file, relative to origin.data_dir")


class BuiltinContentSettings(VendorSettings):
    vendor: Literal["builtin"] = "builtin"
    path: str = Field(default="content", description="folder of content files, relative to the config file")
    default_locale: str = "en"


class BuiltinPaymentsSettings(VendorSettings):
    vendor: Literal["builtin"] = "builtin"
    database: str = Field(default="payments.sqlite3", description="SQLite file, relative to origin.data_dir")


# capability -> vendor name -> its settings model; adapters register here as they are added
VENDOR_SETTINGS: dict[str, dict[str, type[VendorSettings]]] = {
    "commerce": {"builtin": BuiltinCommerceSettings},
    "search": {"builtin": BuiltinSearchSettings},
    "cms": {"builtin": BuiltinContentSettings},
    "payments": {"builtin": BuiltinPaymentsSettings},
}


def known_vendors(capability: str) -> list[str]:
    return sorted(VENDOR_SETTINGS[capability])


class ConnectorsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    commerce: VendorSettings = BuiltinCommerceSettings()
    search: VendorSettings = BuiltinSearchSettings()
    cms: VendorSettings = BuiltinContentSettings()
    payments: VendorSettings = BuiltinPaymentsSettings()

    @field_validator("commerce", "search", "cms", "payments", mode="before")
    @classmethod
    def _vendor_options(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, VendorSettings):
            return value
        if not isinstance(value, dict):
            raise PydanticCustomError("vendor_table", "expected a table with a `vendor` key")
        capability = info.field_name
        assert capability is not None
        choices = VENDOR_SETTINGS[capability]
        vendor = value.get("vendor", "builtin")
        if vendor not in choices:
            raise PydanticCustomError(
                "unknown_vendor",
                "unknown vendor '{vendor}' for {capability}; choose one of: {choices}",
                {"vendor": vendor, "capability": capability, "choices": ", ".join(sorted(choices))},
            )
        return choices[vendor].model_validate(value)
