"""The live part of ``hybridsync lab``: AD changes made while ``run_forever`` runs, each timed
from the AD commit to the moment the SCIM server shows it."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

from rich.table import Table

from hybridsync.engine.lab import seed as ad
from hybridsync.engine.lab.demo import Lab, wait_for


def _last_decision(lab: Lab, upn_or_dn: str) -> str:
    from hybridsync.engine.runtime.explain import NoSuchObject, explain
    from hybridsync.statestore.store import Store

    try:
        with Store.open(lab.workdir / "hybridsync.db") as store:
            expl = explain(store, upn_or_dn)[0]
    except NoSuchObject:
        return "(not in the store)"
    for v in expl.verdicts:
        if v.because is not None and v.because.action is not None:
            a = v.because.action
            rules = ", ".join(r.rule for r in a.reasons if not r.rule.startswith("mapping."))
            return f"{a.kind} → {v.state} ({rules})"
    return "(no decision yet)"


def live_changes(lab: Lab) -> list[tuple[str, float | None, str]]:
    """Run the engine forever in a worker thread and make the changes; returns (what, latency, decision)."""
    assert lab.dc is not None
    c = lab.console
    stop = threading.Event()
    failure: list[BaseException] = []
    cycles: list[int] = []

    def worker() -> None:
        try:
            engine = lab.engine()
            try:
                engine.run_forever(stop, on_report=lambda r: cycles.append(1))
            finally:
                engine.close()
        except BaseException as exc:  # shown to the admin below
            failure.append(exc)

    thread = threading.Thread(target=worker, name="hybridsync-lab-engine")
    thread.start()
    conn = lab.dc.connect()
    base = lab.dc.base_dn
    staff, oos, groups = f"OU=Staff,{base}", f"OU=OutOfScope,{base}", f"OU=Groups,{base}"
    dom = "lab.test"
    results: list[tuple[str, float | None, str]] = []

    def step(what: str, change: Callable[[], Any], check: Callable[[], bool], ref: str) -> None:
        change()
        took = wait_for(check)
        decision = _last_decision(lab, ref)
        results.append((what, took, decision))
        shown = f"{took:.2f} s" if took is not None else "[red]not seen in 30 s[/]"
        c.print(f"  [bold]{what}[/]: landed in {shown} — {decision}")
        if took is not None:
            lab.latencies.append(took)

    try:
        time.sleep(1.0)  # let the first (no-change) cycle settle
        c.print("[bold]Live changes in AD[/] (engine running: change notification + 0.5 s poll)")
        box: dict[str, str] = {}

        def create() -> None:
            box["dn"] = ad.add_user(conn, staff, "Lab Alice", sam="lab.alice", upn=f"lab.alice@{dom}",
                                    given="Alice", sn="Lab", display="Alice Lab", mail=f"lab.alice@{dom}")

        step("create a user", create,
             lambda: (u := lab.scim_user(f"lab.alice@{dom}")) is not None and u.get("active") is True,
             f"lab.alice@{dom}")
        step("disable it", lambda: ad.disable_user(conn, box["dn"]),
             lambda: (u := lab.scim_user(f"lab.alice@{dom}")) is not None and u.get("active") is False,
             f"lab.alice@{dom}")
        step("re-enable it", lambda: ad.enable_user(conn, box["dn"]),
             lambda: (u := lab.scim_user(f"lab.alice@{dom}")) is not None and u.get("active") is True,
             f"lab.alice@{dom}")
        def rename() -> None:
            box["dn"] = ad.rename(conn, box["dn"], "Lab Alice Renamed")
            ad.set_attrs(conn, box["dn"], displayName="Alice Renamed")

        step("rename (CN and displayName)", rename,
             lambda: (u := lab.scim_user(f"lab.alice@{dom}")) is not None and u.get("displayName") == "Alice Renamed",
             f"lab.alice@{dom}")
        before = _member_count(lab, "Group B")
        step("add to Group B", lambda: ad.add_members(conn, f"CN=Group B,{groups}", [box["dn"]]),
             lambda: _member_count(lab, "Group B") == before + 1, f"lab.alice@{dom}")
        step("remove from Group B", lambda: ad.remove_members(conn, f"CN=Group B,{groups}", [box["dn"]]),
             lambda: _member_count(lab, "Group B") == before, f"lab.alice@{dom}")
        step("move out of scope (soft delete)", lambda: box.update(dn=ad.move(conn, box["dn"], oos)),
             lambda: (u := lab.scim_user(f"lab.alice@{dom}")) is not None and u.get("active") is False,
             f"lab.alice@{dom}")
        step("move back into scope (restore)", lambda: box.update(dn=ad.move(conn, box["dn"], staff)),
             lambda: (u := lab.scim_user(f"lab.alice@{dom}")) is not None and u.get("active") is True,
             f"lab.alice@{dom}")
        old_id = (lab.scim_user(f"lab.alice@{dom}") or {}).get("externalId")
        step("delete in AD (tombstone → soft delete)", lambda: ad.delete(conn, box["dn"]),
             lambda: (u := lab.scim_user(f"lab.alice@{dom}")) is not None and u.get("active") is False,
             f"lab.alice@{dom}")

        def recreate() -> None:
            box["dn"] = ad.add_user(conn, staff, "Lab Alice", sam="lab.alice", upn=f"lab.alice@{dom}",
                                    given="Alice", sn="Lab", display="Alice Again", mail=f"lab.alice@{dom}")

        step("re-create with the same UPN (restore + re-anchor)", recreate,
             lambda: (u := lab.scim_user(f"lab.alice@{dom}")) is not None and u.get("active") is True
             and u.get("externalId") != old_id and u.get("displayName") == "Alice Again",
             f"lab.alice@{dom}")
    finally:
        conn.unbind()
        stop.set()
        thread.join(timeout=60)
    if failure:
        raise failure[0]
    c.print(f"  ({len(cycles)} cycles ran while the changes were made)")
    return results


def _member_count(lab: Lab, group: str) -> int:
    g = lab.scim_group(group)
    return -1 if g is None else len(g.get("members") or ())


def summary(lab: Lab, results: list[tuple[str, float | None, str]], full_report: Any) -> int:
    c = lab.console
    t = Table(title="Summary")
    t.add_column("change")
    t.add_column("latency AD → SCIM", justify="right")
    for what, took, _ in results:
        t.add_row(what, f"{took:.2f} s" if took is not None else "missed")
    c.print(t)
    lat = sorted(lab.latencies)
    if lat:
        p50 = statistics.median(lat)
        p95 = lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))]
        c.print(f"objects provisioned by the full sync: {sum(full_report.counts.values())}; "
                f"changes: {len(results)}; latency p50 {p50:.2f} s, p95 {p95:.2f} s "
                f"(Entra Cloud Sync: a 2-minute cycle)")
    missed = [w for w, took, _ in results if took is None]
    if missed:
        c.print(f"[red]not seen at the target:[/] {', '.join(missed)}")
        return 1
    return 0
