"""The rules that keep user-given SQL, URLs, callables and file names inside their lane.

- :func:`duckdb_sandbox`: a DuckDB connection with external access off and its configuration locked,
  reading only the files it was given (the project's own data), so ``read_csv_auto('/etc/passwd')``,
  ``COPY … TO``, ``ATTACH`` and ``INSTALL`` are refused.
- :func:`check_outbound`: an outbound URL must match ``MAINSAIL_OUTBOUND_ALLOW``.
- :func:`callable_allowed`: a module callable a non-admin names must be under ``MAINSAIL_CODE_ALLOW``.
- :func:`contained`: a relative name (artifact key, file name) resolved under a folder stays in it."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mainsail.core.errors import Forbidden, InvalidInput

OUTBOUND_SETTING = "MAINSAIL_OUTBOUND_ALLOW"
CODE_SETTING = "MAINSAIL_CODE_ALLOW"


def duckdb_sandbox(paths: Iterable[str] = (), threads: int | None = None) -> Any:
    """A new in-memory DuckDB connection that can read only ``paths`` (local files) and nothing else on
    the disk or the network; no extension can be installed or loaded and the settings cannot be changed."""
    import duckdb

    con = duckdb.connect(config={"threads": threads} if threads else {})
    allowed = [str(p) for p in paths]
    if allowed:
        con.execute("SET allowed_paths = $1", [allowed])
    for stmt in ("SET autoinstall_known_extensions = false", "SET autoload_known_extensions = false",
                 "SET enable_external_access = false", "SET lock_configuration = true"):
        con.execute(stmt)
    return con


def _list(setting: str) -> list[str]:
    return [p.strip() for p in os.environ.get(setting, "").split(",") if p.strip()]


def outbound_allowed(url: str) -> bool:
    """True when ``url`` starts with one of the ``MAINSAIL_OUTBOUND_ALLOW`` prefixes (``https://hooks.slack.com/``)
    or its host equals one given bare (``hooks.example.com``)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        return False
    for entry in _list(OUTBOUND_SETTING):
        if "://" in entry:
            prefix = entry if entry.endswith("/") or urlsplit(entry).path else entry + "/"
            if (url + ("/" if not parts.path else "")).startswith(prefix):
                return True
        elif parts.hostname == entry.lower():
            return True
    return False


def check_outbound(url: str, where: str = "url") -> None:
    """:class:`Forbidden` unless ``url`` is on the outbound allow-list (the message names the setting,
    never the URL's query, which may hold a token)."""
    if not outbound_allowed(url):
        parts = urlsplit(url)
        shown = f"{parts.scheme}://{parts.hostname or '?'}{parts.path[:40]}"
        raise Forbidden(f"{where}: {shown} is not an allowed outbound URL; an admin lists allowed URL prefixes or "
                        f"hosts in {OUTBOUND_SETTING}", code="outbound_not_allowed")


def callable_allowed(ref: str) -> bool:
    """True when the module of ``module:qualname`` (or ``module.Class``) is under a ``MAINSAIL_CODE_ALLOW``
    prefix (``mypkg`` allows ``mypkg`` and ``mypkg.*``) and no part of the name is private."""
    module, sep, qualname = ref.rpartition(":")
    if not sep:
        module, _, qualname = ref.rpartition(".")
    if not module or module.endswith(".py") or "/" in module or "\\" in module:
        return False
    if any(part.startswith("_") for part in [*module.split("."), *qualname.split(".")]):
        return False
    return any(module == p.rstrip(".") or module.startswith(p.rstrip(".") + ".") for p in _list(CODE_SETTING))


def contained(base: Path | str, name: str, what: str = "path") -> Path:
    """``base/name`` resolved, refused unless it stays inside ``base``: a name failing the artifact-key
    rule (absolute, ``..``, also percent-encoded, control characters) or resolving outside ``base``
    through a link is an :class:`InvalidInput` naming ``what``. For every path a read writes to disk."""
    from mainsail.core.types import artifact_key

    root = Path(base).resolve()
    try:
        key = artifact_key(name)
        target = (root / key).resolve()
        if not target.is_relative_to(root) or target == root:
            raise ValueError("resolves outside its folder")
    except ValueError as exc:
        raise InvalidInput(f"{what} {name[:200]!r} is refused: {exc}", code="unsafe_path",
                           errors=[{"loc": [what], "msg": str(exc)}]) from None
    return target


def no_inline_password(url: str | None) -> str | None:
    """``url`` unless it carries a password (``scheme://user:pw@host``): a definition is stored and shown,
    so credentials go in a secret (``mainsail secrets set NAME``) named as ``secret:NAME``."""
    if url and "://" in url:
        try:
            password = urlsplit(url).password
        except ValueError:
            password = None
        if password:
            raise ValueError("holds a password, which would be stored and shown with the definition: store "
                             "the URL with `mainsail secrets set NAME` and give 'secret:NAME'")
    return url
