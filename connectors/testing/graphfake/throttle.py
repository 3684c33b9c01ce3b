"""The identity and access write quota: 429 + Retry-After, and the early-warning header.

Rules, from https://learn.microsoft.com/graph/throttling-limits ("Identity and access service
limits") and https://learn.microsoft.com/graph/throttling:

- writes (POST, PATCH, PUT, DELETE) per app+tenant have their own quota -- published as 3,000
  per 2 minutes 30 seconds -- separate from reads ("you could encounter a scenario where writes
  are throttled but reads are still permitted");
- over the quota the request fails with 429 Too Many Requests and a ``Retry-After`` header in
  seconds, and ``x-ms-throttle-scope`` names the scope as ``<Scope>/<Limit>/<ApplicationId>/<TenantId>``;
- "all requests accrue against your usage limits", throttled ones included, so retrying at
  once only prolongs the throttle (the fake counts throttled writes too);
- ``x-ms-throttle-limit-percentage`` is "returned only when the application consumed more than
  0.8 of its limit. The value ranges from 0.8 to 1.8".
"""

from __future__ import annotations

import math
import threading
from collections import deque

from hybridsync.connectors.testing.graphfake.errors import GraphError

WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
PERCENT_HEADER = "x-ms-throttle-limit-percentage"


class WriteQuota:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stamps: deque[float] = deque()

    def reset(self) -> None:
        with self._lock:
            self._stamps.clear()

    def _trim(self, now: float, window: float) -> None:
        while self._stamps and self._stamps[0] <= now - window:
            self._stamps.popleft()

    def charge(self, now: float, quota: tuple[int, float] | None, *, client_id: str, tenant: str) -> dict[str, str]:
        """Count one write. Returns the headers the answer carries; raises 429 over the quota."""
        if quota is None:
            return {}
        limit, window = quota
        with self._lock:
            self._trim(now, window)
            over = len(self._stamps) >= limit
            self._stamps.append(now)
            used = len(self._stamps) / limit
            headers = {PERCENT_HEADER: f"{min(used, 1.8):.2f}"} if used > 0.8 else {}
            if not over:
                return headers
            # Wait until enough stamps leave the window that the next write fits.
            stamps = list(self._stamps)
            must_expire = stamps[len(stamps) - limit]
            retry = max(1, math.ceil(must_expire + window - now))
        headers.update({"Retry-After": str(retry),
                        "x-ms-throttle-scope": f"Tenant_Application/Write/{client_id}/{tenant}"})
        raise GraphError(429, "TooManyRequests",
                         "Too many write requests for this application and tenant. Retry after the "
                         "interval in the Retry-After header.", headers)
