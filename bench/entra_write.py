"""Entra (Microsoft Graph) write bench against the documentation-based fake Graph (issue 18):

1. Graph requests per 1,000 user creates (the engine creates one object per call: ~1 each);
2. Graph requests per 1,000 member adds and per 1,000 member removals (members@odata.bind x 20
   inside $batch x 20; removals are one DELETE $ref each, 20 per $batch; the issue's floor is
   1/20 of a request per member change);
3. provisioning N users (default 10,000) with the fake's write quota enforced: achieved rate /
   quota-bound rate (goal >= 0.9: the quota, not the engine, is the limit). The published quota
   is 3,000 writes per 150 s; ``--scale 10`` (default) runs the same shape at 3,000 per 15 s so
   that a run takes about a minute, the connector's rate scaled alike. ``--scale 1`` = real time.

The driver plays the engine's loop: a ``RetryAfter`` is waited out and the call repeated.
Not live Graph: the fake's costs are not Graph's; request counts are the connector's own.

    .venv/bin/python bench/entra_write.py [--users 10000] [--scale 10] [--threads 4]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from hybridsync.connectors.base import Done, RetryAfter
from hybridsync.connectors.entra import EntraTarget
from hybridsync.connectors.testing.graphfake import GraphFake, Knobs
from hybridsync.engine.core.config import TargetConfig
from hybridsync.engine.core.values import ObjectKind as K

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import result  # noqa: E402

SECRET_ENV = "HYBRIDSYNC_BENCH_ENTRA_SECRET"
QUOTA, WINDOW = 3000, 150.0


def anchor(i: int) -> str:
    return base64.b64encode(f"bench-{i}".encode().ljust(16, b"\0")[:16]).decode()


def target(fake: GraphFake, rate: float | None = None) -> EntraTarget:
    os.environ[SECRET_ENV] = fake.knobs.client_secret
    return EntraTarget(TargetConfig(name="entra", kind="entra", tenant_id=fake.knobs.tenant,
                                    client_id=fake.knobs.client_id, client_secret_env=SECRET_ENV,
                                    graph_url=fake.graph_url, authority_url=fake.root, rate_limit=rate,
                                    max_in_flight=8))


def until_done(call, *args):
    while True:
        got = call(*args)
        if isinstance(got, RetryAfter):
            time.sleep(max(got.seconds, 0.01))
            continue
        assert isinstance(got, Done), got
        return got


def user(i: int) -> dict:
    return {"userPrincipalName": f"u{i}@contoso.onmicrosoft.com", "displayName": f"User {i}", "active": True}


def request_costs(n: int = 1000) -> dict:
    with GraphFake(Knobs(verified_domains=None)) as fake:
        t = target(fake, rate=10_000.0)
        ids = [until_done(t.create, K.USER, anchor(i), user(i)).target_id for i in range(n)]
        creates = t._transport.sent
        gid = until_done(t.create, K.GROUP, anchor("g"), {"displayName": "G"}).target_id
        before = t._transport.sent
        until_done(t.add_members, gid, [(K.USER, i) for i in ids])
        adds = t._transport.sent - before
        assert len(fake.backdoor.members(gid)) == n
        before = t._transport.sent
        until_done(t.remove_members, gid, [(K.USER, i) for i in ids])
        removes = t._transport.sent - before
        t.close()
    return {"requests_per_1000_user_creates": round(creates * 1000 / n, 1),
            "requests_per_1000_member_adds": round(adds * 1000 / n, 1),
            "requests_per_1000_member_removals": round(removes * 1000 / n, 1),
            "floor_per_1000_member_changes": 50}


def quota_run(users: int, scale: float, threads: int) -> dict:
    window = WINDOW / scale
    quota_rate = QUOTA / window
    with GraphFake(Knobs(verified_domains=None, write_quota=(QUOTA, window))) as fake:
        t = target(fake, rate=quota_rate * 0.93)  # the connector default, scaled
        t._transport.bucket._tokens = 0.0  # start with an empty bank: measure the steady rate
        t._transport.tokens.token()
        counter = iter(range(users))
        lock = threading.Lock()
        retries = [0]

        def work() -> None:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                while True:
                    got = t.create(K.USER, anchor(i), user(i))
                    if isinstance(got, RetryAfter):
                        if got.status == 429:
                            with lock:
                                retries[0] += 1
                        time.sleep(max(got.seconds, 0.005))
                        continue
                    assert isinstance(got, Done), got
                    break

        t0 = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            for f in [pool.submit(work) for _ in range(threads)]:
                f.result()
        took = time.perf_counter() - t0
        held = len(fake.backdoor.users())
        t.close()
    rate = users / took
    return {"users": users, "held": held, "seconds": round(took, 1), "scale": scale,
            "quota": f"{QUOTA} per {window:g} s", "quota_bound_rate": round(quota_rate, 1),
            "achieved_rate": round(rate, 1), "ratio_to_quota_bound": round(rate / quota_rate, 3),
            "graph_429s": retries[0]}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--users", type=int, default=10_000)
    p.add_argument("--scale", type=float, default=10.0)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--skip-quota", action="store_true")
    a = p.parse_args()
    out = {"costs": request_costs()}
    print(json.dumps(out), flush=True)
    costs = out["costs"]
    for what in ("adds", "removals"):
        n = costs[f"requests_per_1000_member_{what}"]
        result(f"entra_requests_per_1000_member_{what}", n, f"<= {costs['floor_per_1000_member_changes']}",
               n <= costs["floor_per_1000_member_changes"])
    if not a.skip_quota:
        out["quota"] = quota_run(a.users, a.scale, a.threads)
        print(json.dumps(out["quota"]), flush=True)
        q = out["quota"]
        result(f"entra_creates_vs_quota_bound_{a.users}_scale_{a.scale:g}", q["ratio_to_quota_bound"], ">= 0.9",
               q["ratio_to_quota_bound"] >= 0.9 and q["held"] == a.users)
    return 0


if __name__ == "__main__":
    sys.exit(main())
