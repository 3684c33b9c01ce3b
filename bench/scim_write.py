"""SCIM write bench, one run, ratios (issue 7):

1. connector create rate / raw httpx keep-alive create rate, same scim2-server, same concurrency
   (goal >= 0.8). The two alternate in rounds (raw, connector, connector, raw, ...) so that load
   from other processes on a shared machine falls on both alike; rates are totals over rounds.
2. HTTP calls for one member change in a 50,000-member group (counted on the client and on the
   server, goal <= 2).

    .venv/bin/python bench/scim_write.py [--users 1000] [--concurrency 4] [--group-size 50000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from hybridsync.connectors.base import Done
from hybridsync.connectors.scim import ScimTarget
from hybridsync.connectors.testing.faults import FaultTransport
from hybridsync.engine.core.config import TargetConfig
from hybridsync.engine.lab.scim import ScimLab
from hybridsync.engine.core.values import ObjectKind

USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def projection(i: int, run: str) -> dict:
    return {"userName": f"{run}{i}@corp.example", "displayName": f"User {i}", "name.givenName": "Given",
            "name.familyName": f"F{i}", 'emails[type eq "work"].value': f"{run}{i}@corp.example", "active": True}


def raw_body(i: int, run: str) -> dict:
    return {"schemas": [USER], "externalId": f"{run}-{i}", "userName": f"{run}{i}@corp.example",
            "displayName": f"User {i}", "name": {"givenName": "Given", "familyName": f"F{i}"},
            "emails": [{"type": "work", "value": f"{run}{i}@corp.example"}], "active": True}


def raw_rate(lab: ScimLab, n: int, concurrency: int, run: str) -> float:
    lab.reset()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {lab.token}", "Content-Type": "application/scim+json"}
    with httpx.Client(base_url=lab.url, headers=headers, limits=limits, timeout=60) as client:
        client.get("/ServiceProviderConfig")

        def one(i: int) -> None:
            r = client.post("/Users", content=json.dumps(raw_body(i, run)).encode())
            assert r.status_code == 201, r.text
            r.json()

        t = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(one, range(n)))
        return n / (time.perf_counter() - t)


def connector_rate(lab: ScimLab, config: TargetConfig, n: int, concurrency: int, run: str) -> float:
    lab.reset()
    target = ScimTarget(config)
    target.describe()  # discovery happens once, before timing

    def one(i: int) -> None:
        result = target.create(ObjectKind.USER, f"{run}-{i}", projection(i, run))
        assert isinstance(result, Done), result

    t = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(n)))
    rate = n / (time.perf_counter() - t)
    target.close()
    return rate


def member_change_calls(lab: ScimLab, config: TargetConfig, size: int) -> dict:
    lab.reset()
    seeded = lab.backdoor.seed("Group", [{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                          "externalId": "big", "displayName": "big",
                                          "members": [{"value": f"member-{i}"} for i in range(size)]}])
    gid = seeded[0]["id"]
    faults = FaultTransport()
    target = ScimTarget(config, client=httpx.Client(transport=faults, timeout=600))
    target.describe()
    out = {}
    for op, call, member in (("remove", target.remove_members, "member-7"), ("add", target.add_members, "member-new")):
        faults.clear()
        before = lab.backdoor.requests()
        t = time.perf_counter()
        result = call(gid, [(ObjectKind.USER, member)])
        elapsed = time.perf_counter() - t
        assert isinstance(result, Done), result
        server = sum((lab.backdoor.requests() - before).values()) // 2  # "METHOD" and "METHOD /path" keys
        out[op] = {"client_calls": faults.count(), "server_calls": server, "seconds": round(elapsed, 2)}
    members = {m["value"] for m in lab.backdoor.get(gid)["members"]}
    assert "member-7" not in members and "member-new" in members and len(members) == size
    target.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=300, help="creates per round and side")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--group-size", type=int, default=50_000)
    args = ap.parse_args(argv)
    with ScimLab() as lab, tempfile.TemporaryDirectory() as tmp:
        token = os.path.join(tmp, "token")
        with open(token, "w") as f:
            f.write(lab.token)
        config = TargetConfig(name="bench", url=lab.url, token_file=token, max_in_flight=args.concurrency)
        spent = {"raw": 0.0, "conn": 0.0}
        for r in range(args.rounds):
            order = ("raw", "conn") if r % 2 == 0 else ("conn", "raw")
            for side in order:
                if side == "raw":
                    rate = raw_rate(lab, args.users, args.concurrency, f"raw{r}")
                else:
                    rate = connector_rate(lab, config, args.users, args.concurrency, f"conn{r}")
                spent[side] += args.users / rate
        total = args.users * args.rounds
        raw, conn = total / spent["raw"], total / spent["conn"]
        calls = member_change_calls(lab, config, args.group_size)
    ratio = conn / raw
    worst = max(v["client_calls"] for v in calls.values())
    print(f"creates/s at concurrency {args.concurrency}, {args.rounds} rounds x {args.users} users per side: "
          f"raw httpx {raw:.0f}, connector {conn:.0f}")
    print(f"ratio connector/raw = {ratio:.2f} (goal >= 0.8)")
    for op, v in calls.items():
        print(f"one member {op} in a {args.group_size}-member group: {v['client_calls']} HTTP call(s) "
              f"(server counted {v['server_calls']}), {v['seconds']} s of server time")
    print(f"member change calls = {worst} (goal <= 2)")
    print(f"RESULT: scim_write_connector_vs_raw_creates {ratio:.3f} goal >= 0.8 {'PASS' if ratio >= 0.8 else 'MISS'}")
    print(f"RESULT: scim_member_change_http_calls_{args.group_size} {worst} goal <= 2 {'PASS' if worst <= 2 else 'MISS'}")
    return 0 if ratio >= 0.8 and worst <= 2 else 1


if __name__ == "__main__":
    sys.exit(main())
