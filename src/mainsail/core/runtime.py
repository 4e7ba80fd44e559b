"""The in-process runtime: engines, sessions, artifact store and settings, and the transaction
boundary every service call runs in."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from mainsail.core.artifacts import ArtifactStore
from mainsail.core.db import connection_error, is_sqlite, lost_connection, make_engine
from mainsail.core.events import PROJECT_KEY
from mainsail.core.principal import DEFAULT_PROJECT, LOCAL, Principal
from mainsail.core.settings import Settings


@dataclass
class Ctx:
    """What a service function gets: an open session (one transaction), the artifact store, the
    settings and the acting user."""

    session: Session
    store: ArtifactStore
    settings: Settings
    actor: str | None = None
    runtime: Runtime | None = None
    principal: Principal = LOCAL  # who acts; embedded use is the local admin
    project: str = DEFAULT_PROJECT  # the project the call addresses (roles are checked in it)
    remote: str | None = None  # the caller's address (HTTP), for rate limits

    @property
    def dialect(self) -> str:
        return self.session.get_bind().dialect.name


class Runtime:
    """Owns the engines and the artifact store for one metadata URI. Cheap to share across threads."""

    _cache: dict[tuple[str, str], Runtime] = {}
    _cache_lock = threading.Lock()

    def __init__(self, settings: Settings, *, migrate: bool = True):
        self.settings = settings
        self.url = settings.uri
        self.write_engine: Engine = make_engine(self.url, write=True)
        # SQLite readers use plain BEGIN so they never wait on the writer lock (WAL).
        self.read_engine: Engine = (
            make_engine(self.url, write=False) if is_sqlite(self.url) else self.write_engine
        )
        self._write = sessionmaker(self.write_engine, expire_on_commit=False)
        self._read = sessionmaker(self.read_engine, expire_on_commit=False)
        self.store = ArtifactStore(settings.artifact_root)
        self._drivers: list[Any] = []  # autocommit driver connections for :meth:`driver_read`
        self._drivers_pid = os.getpid()
        self._drivers_lock = threading.Lock()
        if migrate:
            from mainsail.core.migrate import upgrade

            upgrade(self.write_engine)

    @classmethod
    def for_settings(cls, settings: Settings) -> Runtime:
        """One runtime per (uri, artifact root) in a process."""
        key = (settings.uri, settings.artifact_root)
        with cls._cache_lock:
            rt = cls._cache.get(key)
            if rt is None:
                rt = cls._cache[key] = cls(settings)
            return rt

    @contextmanager
    def transaction(self, *, write: bool = True, actor: str | None = None, principal: Principal = LOCAL,
                    project: str | None = None, remote: str | None = None) -> Iterator[Ctx]:
        """Open a session in one transaction; commit on success, roll back on any error."""
        maker = self._write if write else self._read
        project = project or self.settings.project
        try:
            with maker() as session, session.begin():
                session.info[PROJECT_KEY] = project  # the project of the events it emits (core.events.emit)
                yield Ctx(session=session, store=self.store, settings=self.settings, actor=actor, runtime=self,
                          principal=principal, project=project, remote=remote)
        except Exception as exc:
            if lost_connection(exc):  # e.g. a raw COPY on a connection the server just closed
                raise connection_error(exc, self.url) from None
            raise

    @contextmanager
    def driver_read(self) -> Iterator[Any]:
        """A driver (DBAPI) connection in autocommit mode, for a hot read that is one statement (atomic on
        its own): no session, no BEGIN/COMMIT, no pool ping. A connection that raised is closed, not reused."""
        conn = None
        with self._drivers_lock:
            if self._drivers_pid != os.getpid():  # forked: the parent's connections are not ours to use
                self._drivers, self._drivers_pid = [], os.getpid()
            if self._drivers:
                conn = self._drivers.pop()
        if conn is None:
            fairy = self.read_engine.raw_connection()
            fairy.detach()  # ours from now on; the engine's pool forgets it
            conn = fairy.dbapi_connection
            if not is_sqlite(self.url):  # SQLite connections are autocommit already (isolation_level None)
                conn.rollback()
                conn.autocommit = True
        try:
            yield conn
        except BaseException as exc:
            with contextlib.suppress(Exception):
                conn.close()
            if isinstance(exc, Exception) and lost_connection(exc):
                raise connection_error(exc, self.url) from None
            raise
        with self._drivers_lock:
            if len(self._drivers) < 8:
                self._drivers.append(conn)
                return
        conn.close()

    def ping(self) -> bool:
        """True when the metadata database answers."""
        try:
            with self.read_engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            return True
        except Exception:
            return False

    def dispose(self) -> None:
        with self._drivers_lock:
            drivers, self._drivers = self._drivers, []
        for conn in drivers:
            with contextlib.suppress(Exception):
                conn.close()
        self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            self.read_engine.dispose()
        with self._cache_lock:
            for k, v in list(self._cache.items()):
                if v is self:
                    del self._cache[k]

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Runtime({self.url!r})"


