"""Personal data at rest: encrypted columns and keyed hashes.

Keys come from environment variables only (docs/deployment.md, "Secrets"; no Prefect block is read),
never from config files:
  SAFEGUARD_DATA_KEYS  comma-separated Fernet keys; the first encrypts, all decrypt (rotation)
  SAFEGUARD_HASH_KEY   the secret for keyed hashes (HMAC-SHA256) used to link records by NHS number
  SAFEGUARD_AUDIT_KEY  the audit chain's own secret (audit.py), never the same as a data key

`safeguard keys new` prints a fresh key; `safeguard keys rotate` re-encrypts every value with
the first key. A value written before encryption was switched on (plain JSON) is still read,
and is encrypted by the next rotation.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import JSON, Dialect, LargeBinary, Text, TypeDecorator

from safeguard.adapters.config_files import ConfigError

DATA_KEYS, HASH_KEY, AUDIT_KEY = "SAFEGUARD_DATA_KEYS", "SAFEGUARD_HASH_KEY", "SAFEGUARD_AUDIT_KEY"
KEY_VARIABLES = (DATA_KEYS, HASH_KEY, AUDIT_KEY)
TOKEN_PREFIX = "gAAAAA"  # every Fernet token starts so (version byte and timestamp)


class KeysMissing(ConfigError):
    """Raised with a plain-English explanation of which variable to set."""


@cache
def _ring(keys: str) -> MultiFernet:
    try:
        return MultiFernet([Fernet(k.strip()) for k in keys.split(",") if k.strip()])
    except (ValueError, TypeError):
        raise KeysMissing(f"{DATA_KEYS} holds something that is not a Fernet key. Generate one with "
                          "'safeguard keys new'.") from None


def keyring() -> MultiFernet:
    keys = os.environ.get(DATA_KEYS, "")
    if not keys.strip():
        raise KeysMissing(f"{DATA_KEYS} is not set, so personal data cannot be encrypted or read. "
                          "Set it to a key from 'safeguard keys new' "
                          "(keep it in your secret store; losing it loses the data).")
    return _ring(keys)


def keyed_hash(text: str) -> str:
    secret = os.environ.get(HASH_KEY, "")
    if not secret.strip():
        raise KeysMissing(f"{HASH_KEY} is not set. Set it to a long random secret "
                          "(e.g. from 'safeguard keys new'); "
                          "it must never change once records are linked with it.")
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()[:40]


def new_key() -> str:
    return Fernet.generate_key().decode()


def encrypt(data: bytes) -> str:
    return keyring().encrypt(data).decode()


def decrypt(token: str | bytes) -> bytes:
    text = token.decode() if isinstance(token, bytes) else token
    try:
        return keyring().decrypt(text.encode())
    except InvalidToken:
        raise KeysMissing(f"A value in the register cannot be decrypted with the keys in {DATA_KEYS}: "
                          "the key that wrote it is missing. "
                          "Add it back to the list (after the current key).") from None


def is_token(value: str | bytes) -> bool:
    prefix = value[:6]
    return (prefix.decode(errors="replace") if isinstance(prefix, bytes) else prefix) == TOKEN_PREFIX


class EncryptedJSON(TypeDecorator[Any]):
    """JSON encrypted as one Fernet token (stored as a JSON string, so no schema change)."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        return encrypt(json.dumps(value, separators=(",", ":"), default=str).encode())

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, str) and is_token(value):
            return json.loads(decrypt(value))
        return value  # written before encryption: plain JSON


class EncryptedText(TypeDecorator[str]):
    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else encrypt(value.encode())

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None or not is_token(value):
            return value
        return decrypt(value).decode()


class EncryptedBytes(TypeDecorator[bytes]):
    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: bytes | None, dialect: Dialect) -> bytes | None:
        return None if value is None else encrypt(value).encode()

    def process_result_value(self, value: bytes | None, dialect: Dialect) -> bytes | None:
        if value is None or not is_token(value):
            return value
        return decrypt(value)


def check_keys() -> None:
    """Fail at start-up, in plain words, rather than at the first personal datum."""
    keyring()
    keyed_hash("check")
    audit = os.environ.get(AUDIT_KEY, "").strip()
    if not audit:
        raise KeysMissing(f"{AUDIT_KEY} is not set, so the audit log cannot be written or checked. Set it to "
                          "a long random secret (e.g. from 'safeguard keys new'), different from the data "
                          "key, kept in your secret store; it must never change.")
    if audit in {k.strip() for k in os.environ.get(DATA_KEYS, "").split(",")}:
        raise KeysMissing(f"{AUDIT_KEY} is one of the keys in {DATA_KEYS}: the audit key must be separate, "
                          "so that whoever holds the data key cannot rewrite the audit log. Set another.")
