"""The lab's mixed rounds: after the ten changes it narrates, ``hybridsync lab`` makes rounds of
six kinds -- create, update, disable, move out of scope, add to a group, delete -- so its p95
stands on 50-odd changes and no slow kind hides behind the median of ten (the benchmark's kinds:
``bench/p1_latency.py``). Each is timed as the narrated ones are, from the AD commit to the moment
the SCIM server shows it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hybridsync.engine.lab import seed as ad
from hybridsync.engine.lab.demo import Lab, wait_for
from hybridsync.engine.lab.errors import LabError

MIXED_ROUNDS = 7  # 7 rounds x 6 kinds = 42 changes, 52 with the ten narrated ones
KINDS = ("create", "update", "disable", "move", "member", "delete")
LETTERS = "abcde"  # the pool users of a round: update, disable, move, member, delete

# timed(what, kind, change, check): makes the change, waits for check(), records it
Timed = Callable[[str, str, Callable[[], Any], Callable[[], bool]], float | None]


def mixed_rounds(lab: Lab, conn: Any, timed: Timed, *, rounds: int = MIXED_ROUNDS,
                 progress: Callable[[str], None] = lambda text: None) -> None:
    """Seed a pool (five users a round and a group, synced before any clock starts), then make
    ``rounds`` rounds of the six kinds, one change at a time."""
    assert lab.dc is not None
    base, dom = lab.dc.base_dn, "lab.test"
    staff, oos, groups = f"OU=Staff,{base}", f"OU=OutOfScope,{base}", f"OU=Groups,{base}"

    def upn(name: str) -> str:
        return f"{name}@{dom}"

    progress(f"seeding {rounds * len(LETTERS)} users and a group for the mixed rounds")
    pool = {f"lab.mix{r:02d}{x}": "" for r in range(rounds) for x in LETTERS}
    for name in pool:
        pool[name] = ad.add_user(conn, staff, f"Lab Mix {name[7:]}", sam=name, upn=upn(name), given="Mix",
                                 sn=name[7:], display=f"Mix {name[7:]}")
    group_dn = ad.add_group(conn, groups, "Lab Mix Group")
    waiting = set(pool)

    def pool_landed() -> bool:
        waiting.difference_update({n for n in list(waiting) if lab.scim_user(upn(n)) is not None})
        return not waiting and lab.scim_group("Lab Mix Group") is not None

    if wait_for(pool_landed, timeout=120.0) is None:
        raise LabError(f"the mixed rounds' pool never reached the target: {', '.join(sorted(waiting)) or 'the group'}")

    def user(name: str) -> dict[str, Any]:
        return lab.scim_user(upn(name)) or {}

    def member(name: str) -> bool:
        uid = user(name).get("id")
        return uid is not None and uid in {m.get("value") for m in (lab.scim_group("Lab Mix Group") or {}).get("members") or ()}

    for r in range(rounds):
        a, b, c, d, e = (f"lab.mix{r:02d}{x}" for x in LETTERS)
        new = f"lab.mix{r:02d}n"
        title = f"Mixed round {r}"
        steps: list[tuple[str, str, Callable[[], Any], Callable[[], bool]]] = [
            (f"create {new}", "create",
             lambda: ad.add_user(conn, staff, f"Lab Mix {new[7:]}", sam=new, upn=upn(new), given="Mix", sn=new[7:]),
             lambda: user(new).get("active") is True),
            (f"update {a} (title)", "update", lambda: ad.set_attrs(conn, pool[a], title=title),
             lambda: user(a).get("title") == title),
            (f"disable {b}", "disable", lambda: ad.disable_user(conn, pool[b]),
             lambda: user(b).get("active") is False),
            (f"move {c} out of scope", "move", lambda: ad.move(conn, pool[c], oos),
             lambda: user(c).get("active") is False),
            (f"add {d} to Lab Mix Group", "member", lambda: ad.add_members(conn, group_dn, [pool[d]]),
             lambda: member(d)),
            (f"delete {e}", "delete", lambda: ad.delete(conn, pool[e]),
             lambda: user(e).get("active") is False),
        ]
        for i, (what, kind, change, check) in enumerate(steps):
            progress(f"round {r + 1}/{rounds}: {what} ({r * len(KINDS) + i + 1}/{rounds * len(KINDS)})")
            timed(what, kind, change, check)
