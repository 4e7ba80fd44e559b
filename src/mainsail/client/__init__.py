"""The SDK: one :class:`Client`, embedded (database URI) or remote (``http(s)://``)."""

from mainsail.client.client import Client

__all__ = ["Client"]
