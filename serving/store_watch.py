"""The online store's state for the request path, kept by a background thread so no request waits on a dependency.

Every half second the watch pings the store and reads its marker (what
materialization loaded, from which source, whether a load is under way). The
state it keeps is one of:

- ``ready`` — the store answers and holds the platform clock's month;
- ``down`` — it does not answer (requests answer 503 at once, without a call);
- ``empty`` — it answers but holds no marker: restarted without its data, flushed, never loaded;
- ``loading`` — a materialization is under way (a reload after a source change clears first);
- ``stale`` — it holds an older month than the platform clock's.

Readiness is ``ready``; a request that finds no row for a customer while the
store is ``empty``, ``loading`` or ``stale`` is answered 503 with that reason,
not 404, since the customer may well exist. A read that fails marks the store
``down`` at once; the watch's next successful probe brings it back.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from churn.clock import platform_clock
from churn.errors import InputError
from churn.settings import Settings
from churn.timeutil import month_label
from store.marker import READY, read_marker

PROBE_INTERVAL_S = 0.5
REGISTRY_INTERVAL_S = 30.0  # how often the (slow, possibly remote) Feast registry is read for /health


class StoreWatch:
    def __init__(self, settings: Settings, store: Any, reader: Any, interval: float = PROBE_INTERVAL_S) -> None:
        self.settings = settings
        self.store = store
        self.reader = reader
        self.interval = interval
        self.state = "down"
        self.detail = "not probed yet"
        self.marker: dict[str, Any] | None = None
        self.expected_month: str | None = None
        self.materialized_until: str | None = None
        self.probed_at = 0.0
        self._registry_read_at = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.probe()

    # --- the request path: attribute reads only ----------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    def failed(self, why: str) -> None:
        """A read failed: answer 503 at once until the next probe finds the store answering again."""
        self.state, self.detail = "down", why

    # --- the background -----------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="store-watch", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.probe()

    def probe(self) -> None:
        """One look at the store: does it answer, what does its marker say, is that the clock's month."""
        self.probed_at = time.time()
        if not self.reader.ping():
            self.state, self.detail = "down", "the online store does not answer"
            return
        try:
            self.marker = read_marker(self.store, self.settings, client=getattr(self.reader, "client", None))
        except Exception as err:  # a store that answers pings but not reads is down for us
            self.state, self.detail = "down", f"the online store's marker is unreadable ({err.__class__.__name__})"
            return
        try:
            self.expected_month = month_label(platform_clock(self.settings))
        except InputError:
            self.expected_month = None  # no offline store here: judge by the marker alone
        self.state, self.detail = self._judge(self.marker, self.expected_month)
        if time.monotonic() - self._registry_read_at > REGISTRY_INTERVAL_S:
            self._registry_read_at = time.monotonic()
            self.materialized_until = self._materialized_until()

    @staticmethod
    def _judge(marker: dict[str, Any] | None, expected: str | None) -> tuple[str, str]:
        if marker is None:
            return "empty", "the online store holds no data of ours (restarted empty, flushed or never loaded)"
        if marker.get("state") != READY:
            return "loading", f"a materialization is loading the online store (since {marker.get('written_at')})"
        month = str(marker.get("month") or "")
        if expected and month < expected:
            return "stale", f"the online store holds {month or 'an unknown month'}; the platform clock is at {expected}"
        return "ready", f"the online store holds {month} from {marker.get('source')}"

    def _materialized_until(self) -> str | None:
        """End of the latest materialization recorded in Feast's registry (read here, never per request)."""
        try:
            ends = [
                interval[1]
                for view in self.store.list_feature_views(allow_cache=False)
                for interval in view.materialization_intervals
            ]
        except Exception:
            return self.materialized_until
        return max(ends).isoformat() if ends else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "detail": self.detail,
            "month": (self.marker or {}).get("month"),
            "expected_month": self.expected_month,
            "materialized_until": self.materialized_until,
            "probed_at": self.probed_at,
        }
