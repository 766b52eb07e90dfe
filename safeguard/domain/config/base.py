"""Building blocks shared by the configuration models."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

Email = str  # checked by _check_address below; pydantic's EmailStr needs an extra package


def _check_address(value: str) -> str:
    value = value.strip().lower()
    local, _, domain = value.partition("@")
    if not local or "." not in domain or any(c.isspace() for c in value):
        raise ValueError(f"'{value}' is not an email address")
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
