"""Secrets at rest: :func:`seal` encrypts a text with Fernet (AES-128-CBC + HMAC-SHA256, via
``cryptography``), :func:`unseal` decrypts it, :func:`reseal` re-encrypts it with the newest key.

Keys come from ``MAINSAIL_SECRET_KEY`` (comma-separated Fernet keys, newest first: all of them decrypt,
the first encrypts, so a new key is put in front and ``mainsail secrets rotate`` moves every stored
secret to it), else from the key file ``MAINSAIL_SECRET_KEY_FILE`` (default ``$MAINSAIL_HOME/secret.key``,
one key a line, newest first), created with mode 0600 on first use when nothing else is configured.
A missing or wrong key is a :class:`SecretKeyError` naming the setting; the secret itself is never in
a message."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from mainsail.core.errors import MainsailError

KEY_SETTING = "MAINSAIL_SECRET_KEY"
FILE_SETTING = "MAINSAIL_SECRET_KEY_FILE"
PREFIX = "sealed:v1:"  # marks a sealed token, so a plain value stored by mistake is told apart
_lock = threading.Lock()
_cache: dict[tuple[str, ...], Any] = {}


class SecretKeyError(MainsailError):
    """The secret key is missing, malformed or not the one the secrets were sealed with (409: the stored
    data cannot be read with this configuration; the server keeps running)."""

    status = 409
    default_code = "secret_key_invalid"
    title = "Secrets cannot be read with the configured key"


def key_file() -> Path:
    """Where the key file is (``MAINSAIL_SECRET_KEY_FILE``, else ``$MAINSAIL_HOME/secret.key``)."""
    from mainsail.core.settings import Settings

    given = os.environ.get(FILE_SETTING)
    return Path(given).expanduser() if given else Settings.from_env().home / "secret.key"


def generate_key() -> str:
    """A new random Fernet key (url-safe base64 of 32 bytes)."""
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def _keys(create: bool) -> tuple[list[str], str]:
    env = os.environ.get(KEY_SETTING, "")
    keys = [k.strip() for k in env.split(",") if k.strip()]
    if keys:
        return keys, KEY_SETTING
    path = key_file()
    where = f"{FILE_SETTING} ({path})"
    if path.is_file():
        return [k.strip() for k in path.read_text().splitlines() if k.strip() and not k.startswith("#")], where
    if not create or os.environ.get(FILE_SETTING):
        raise SecretKeyError(f"no secret key: set {KEY_SETTING} or create the key file {where}; without the "
                             "key that sealed them, stored secrets cannot be read", code="secret_key_missing")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never readable by others, even briefly
    with os.fdopen(fd, "w") as f:
        f.write(generate_key() + "\n")
    return _keys(create=False)


def _fernet(create: bool = True) -> tuple[Any, str]:
    from cryptography.fernet import Fernet, MultiFernet

    keys, where = _keys(create)
    with _lock:
        cached = _cache.get(tuple(keys))
        if cached is None:
            try:
                cached = MultiFernet([Fernet(k.encode()) for k in keys])
            except (ValueError, TypeError):
                raise SecretKeyError(f"{where} does not hold valid Fernet keys (each: 32 url-safe base64-encoded "
                                     "bytes; make one with `mainsail secrets keygen`)", code="secret_key_invalid") from None
            _cache.clear()
            _cache[tuple(keys)] = cached
    return cached, where


def seal(text: str) -> str:
    """``text`` encrypted with the newest key, as a printable token (store this, never ``text``)."""
    f, _ = _fernet(create=True)
    return PREFIX + f.encrypt(text.encode()).decode()


def unseal(token: str) -> str:
    """The text sealed in ``token``; :class:`SecretKeyError` naming the setting when no configured key opens it."""
    from cryptography.fernet import InvalidToken

    if not isinstance(token, str) or not token.startswith(PREFIX):
        raise SecretKeyError("not a sealed secret (stored before encryption, or damaged)", code="secret_not_sealed")
    f, where = _fernet(create=False)
    try:
        return f.decrypt(token[len(PREFIX):].encode()).decode()
    except InvalidToken:
        raise SecretKeyError(f"a stored secret cannot be decrypted with the key(s) in {where}: the key that sealed "
                             f"it is lost or was replaced (put the old key after the new one in {KEY_SETTING})",
                             code="secret_key_wrong") from None


def reseal(token: str) -> str:
    """``token`` re-encrypted with the newest key (what ``mainsail secrets rotate`` does to each secret)."""
    from cryptography.fernet import InvalidToken

    if not token.startswith(PREFIX):
        return seal(token)  # a plain value left from before: seal it now
    f, where = _fernet(create=False)
    try:
        return PREFIX + f.rotate(token[len(PREFIX):].encode()).decode()
    except InvalidToken:
        raise SecretKeyError(f"a stored secret cannot be decrypted with the key(s) in {where}; rotation needs the "
                             f"old key too (newest first, comma-separated)", code="secret_key_wrong") from None


def mask(text: str) -> str:
    """What to show instead of a secret: its length class, never a character of it."""
    return "***" if text else ""
