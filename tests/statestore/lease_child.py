"""A child process for the lease tests: take a lease, say so, then commit a unit every 0.1 s
(each one a cycle row named after its epoch) until killed, paused or fenced out."""

from __future__ import annotations

import os
import sys
import time

from hybridsync.statestore.postgres.handle import LeaseLost


def main() -> None:
    kind, key = sys.argv[1], sys.argv[2]
    if kind == "file":
        from hybridsync.statestore.lease import FileLease

        lease = FileLease(key)
        print("EPOCH", lease.acquire(wait=None), os.getpid(), flush=True)
        time.sleep(600)
        return
    from hybridsync.statestore.postgres.lease import PgLease
    from hybridsync.statestore.postgres.store import PostgresStore

    store = PostgresStore.open(os.environ["PGURL"], schema=os.environ["PGSCHEMA"], password=os.environ["PGPW"])
    lease = PgLease(store.pool, key, ttl=float(os.environ.get("TTL", "3")))
    epoch = lease.acquire(wait=None)
    store.set_fence(key, epoch)
    lease.start_heartbeat(lambda holder: print("HEARTBEAT-LOST", flush=True))
    print("EPOCH", epoch, os.getpid(), flush=True)
    n = 0
    while True:
        try:
            with store.atomic():
                store.begin_cycle(f"epoch{epoch}", "delta")
        except LeaseLost:
            print("LOST", n, store.stale_refusals, flush=True)
            return
        n += 1
        time.sleep(0.1)


if __name__ == "__main__":
    main()
