"""The SDK: one :class:`Client`, embedded (database URI) or remote (``http(s)://``).

``client/`` only composes: ``client.py`` mixes each domain's ``sdk.py`` methods into the Client,
``backends.py`` holds its two back ends, ``buffer.py`` batches metric writes, and ``fluent.py`` is the
module-level face over a default Client. ``Client`` is imported on first use, so a domain SDK can import
``mainsail.client.backends`` without pulling in every other domain (no import circle)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["Client"]


def __getattr__(name: str) -> Any:
    if name == "Client":
        from mainsail.client.client import Client

        return Client
    raise AttributeError(f"module 'mainsail.client' has no attribute {name!r}")


if TYPE_CHECKING:
    from mainsail.client.client import Client
