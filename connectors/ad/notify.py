"""Change notification (LDAP_SERVER_NOTIFICATION_OID 1.2.840.113556.1.4.528) as a wake-up hint.

One long-lived subtree search on the naming-context root over an ldap3 ASYNC_STREAM connection;
ldap3's receiver thread calls back on every notified entry and we set an ``Event``. ``close()``
abandons the search, unbinds, and joins the receiver thread (shared/README: a later TLS
handshake fails if that thread is still alive), so no thread is left behind.
Samba only notifies with ``prefork children = 1``; the delta poll is the real mechanism.
The search carries the show-deleted control: Windows notifies a deletion without it (the object's
new DN in Deleted Objects), Samba only to a search that can see tombstones -- without it a delete
waited for the poll.
"""

from __future__ import annotations

import threading

import ldap3
import structlog
from ldap3.extend.microsoft.persistentSearch import ADPersistentSearch
from ldap3.protocol.microsoft import persistent_search_control, show_deleted_control

from hybridsync.connectors.ad.connection import close_quietly, open_connection
from hybridsync.engine.core.config import SourceConfig

log = structlog.get_logger(__name__)


class _NotificationSearch(ADPersistentSearch):
    """ldap3's notification search, seeing tombstones too (both controls non-critical)."""

    def start(self) -> None:
        self.controls = [persistent_search_control(), show_deleted_control()]
        super().start()


class Watcher:
    """A notification search on ``base``; ``changed`` is set when the DC reports a change."""

    def __init__(self, config: SourceConfig, url: str, base: str):
        self.url = url
        self.changed = threading.Event()
        self.dead = threading.Event()
        self._conn = open_connection(config, url, strategy=ldap3.ASYNC_STREAM)
        try:
            self._search = _NotificationSearch(
                self._conn, base, ldap3.SUBTREE, attributes=["objectGUID"], streaming=False, callback=self._on_message
            )
        except BaseException:
            self.close()
            raise

    def _on_message(self, message: dict) -> None:
        if message.get("type") == "searchResEntry":
            self.changed.set()
        elif message.get("type") == "searchResDone":
            log.info("ad.notification_ended", dc=self.url, result=message.get("description"))
            self.dead.set()

    @property
    def alive(self) -> bool:
        receiver = getattr(self._conn.strategy, "receiver", None)
        return not self.dead.is_set() and receiver is not None and receiver.is_alive() and not self._conn.closed

    def close(self, join_timeout: float = 5.0) -> None:
        receiver = getattr(self._conn.strategy, "receiver", None)
        search = getattr(self, "_search", None)
        try:
            if search is not None and search.message_id is not None:
                search.stop(unbind=True)
            else:
                close_quietly(self._conn)
        except Exception:  # noqa: BLE001 - closing a broken connection
            close_quietly(self._conn)
        sock = getattr(self._conn, "socket", None)
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass
        if receiver is not None and receiver is not threading.current_thread():
            receiver.join(join_timeout)
            if receiver.is_alive():
                log.warning("ad.notification_thread_stuck", dc=self.url)
        self.dead.set()
