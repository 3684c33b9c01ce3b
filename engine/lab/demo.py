"""``hybridsync lab``: the main job, end to end, on real services on loopback.

1. a Samba AD DC (from the lab cache: ~200 users with odd values, nested groups with a cycle,
   contacts, a 5,000-member group) on a free 127.0.0.x, and scim2-server on 127.0.0.1;
2. a config file (secrets in 0600 files next to it, referenced by ``*_file``);
3. a full sync with a progress bar, and a table of what landed in the SCIM server;
4. ``run_forever`` in a worker thread while live AD changes are made one by one -- disable,
   rename, move out of scope, delete, membership change, re-create with the same UPN -- each
   shown with the decision taken and the latency from the AD commit to the SCIM server; then
   42 more in rounds of six kinds (``mixed.py``);
5. a summary (latency p50/p95/max per kind over all 52), then everything is stopped (``--keep``
   leaves it running and says how to use it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from hybridsync.engine.lab.samba import SambaDC
from hybridsync.engine.lab.samba_cache import cached_lab_dc, load_seed_result, short_tempdir
from hybridsync.engine.lab.scim import ScimLab

CONFIG_TEMPLATE = """\
# Written by `hybridsync lab`: a private Samba AD DC and a scim2-server, both on loopback.
[state]
path = "hybridsync.db"

[[source]]
name = "corp"
kind = "ad"
urls = ["{ldaps_url}"]
base_dn = "{base}"
bind_dn = "{admin_dn}"
password_file = "secrets/corp.password"
ca_file = "{ca_file}"
tls_server_name = "{tls_name}"
delta = "dirsync"
poll_interval = 0.5

[source.scope]
include_ous = [{include}]
exclude_ous = []
object_types = ["user", "group", "contact"]

[[target]]
name = "app"
kind = "scim"
url = "{scim_url}"
auth = "bearer"
token_file = "secrets/app.token"
object_types = ["user", "group", "contact"]
nested_groups = "nested"
# scim2-server's PATCH costs grow with the group's size (0.6 s each at 5,000 members, measured):
# the large group's members go 1,000 per PATCH (5 calls) rather than the default 100 (50 calls)
member_chunk = 1000

[target.mapping.user]
# The bulk members of the large group have no UPN: build one from sAMAccountName.
userName = 'Coalesce([userPrincipalName], Append([sAMAccountName], "@lab.test"))'

[safety]
delete_threshold = 50
soft_delete_days = 30
"""

# `hybridsync lab --target entra`: the same source, into the documentation-based fake Microsoft
# Graph (hybridsync.connectors.testing.graphfake) -- not live Graph.
ENTRA_TARGET_TEMPLATE = """\
[[target]]
name = "entra"
kind = "entra"
tenant_id = "{tenant}"
client_id = "{client_id}"
client_secret_file = "secrets/entra.secret"
graph_url = "{graph_url}"        # the fake Graph on loopback (default: https://graph.microsoft.com/v1.0)
authority_url = "{authority_url}"  # its token endpoint (default: https://login.microsoftonline.com)
object_types = ["user", "group", "contact"]  # contacts: reported unsupported (orgContact is read-only)
password = "random"
nested_groups = "nested"
rate_limit = 500.0  # the fake enforces no quota here; against Graph leave it unset (18.6 writes/s)

[target.mapping.user]
userPrincipalName = 'Coalesce([userPrincipalName], Append([sAMAccountName], "@lab.test"))'
"""

SCOPE_OUS = ("Staff", "Contractors", "Groups", "Contacts", "LargeMembers")


class Lab:
    """The running services and the files of one lab run."""

    def __init__(self, workdir: Path, console: Console, *, keep: bool = False, target: str = "scim"):
        self.keep = keep  # --keep: the services outlive this process
        self.target = target  # "scim" (scim2-server) or "entra" (the fake Graph)
        self.graph: Any = None
        self.workdir = workdir
        self.console = console
        self.dc: SambaDC | None = None
        self.scim: ScimLab | None = None
        self.config_path = workdir / "hybridsync.toml"
        self.latencies: list[float] = []

    # -------------------------------------------------------------- services
    def start(self) -> None:
        from hybridsync.engine.lab import debian

        c = self.console
        debian.require()  # names a missing Debian package now, not by a provisioning error later
        self.workdir.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        with c.status("Starting a Samba AD DC (restored from the lab cache; the first run provisions and seeds it, ~2-4 min)"):
            dc_dir = short_tempdir("hs-lab-") / "dc"
            self.dc = cached_lab_dc(dc_dir)
            self.dc.start(timeout=120, tie_to_parent=not self.keep)
        c.print(f"[green]✓[/] Samba AD DC [bold]{self.dc.tls_server_name}[/] on {self.dc.ldaps_url} "
                f"({time.perf_counter() - t0:.1f} s)")
        t0 = time.perf_counter()
        if self.target == "entra":
            from hybridsync.connectors.testing.graphfake import GraphFake, Knobs

            self.graph = GraphFake(Knobs(verified_domains=None)).start()
            c.print(f"[green]✓[/] fake Microsoft Graph (documentation-based, not live Graph) on "
                    f"{self.graph.graph_url} ({time.perf_counter() - t0:.1f} s)")
        else:
            self.scim = ScimLab().start(tie_to_parent=not self.keep)
            c.print(f"[green]✓[/] scim2-server on {self.scim.url} ({time.perf_counter() - t0:.1f} s)")
        self.seed = load_seed_result(self.dc.workdir)
        self._write_config()

    def _write_config(self) -> None:
        assert self.dc is not None and (self.scim is not None or self.graph is not None)
        secrets = self.workdir / "secrets"
        secrets.mkdir(exist_ok=True, mode=0o700)
        files = [("corp.password", self.dc.admin_password)]
        files.append(("entra.secret", self.graph.knobs.client_secret) if self.graph else ("app.token", self.scim.token))
        for name, value in files:
            path = secrets / name
            path.write_text(value, encoding="utf-8")
            path.chmod(0o600)
        base = self.dc.base_dn
        include = ", ".join(f'"OU={ou},{base}"' for ou in SCOPE_OUS)
        text = CONFIG_TEMPLATE.format(
            ldaps_url=self.dc.ldaps_url, base=base, admin_dn=self.dc.admin_dn, ca_file=self.dc.ca_file,
            tls_name=self.dc.tls_server_name, include=include, scim_url=self.scim.url if self.scim else "")
        if self.graph is not None:
            head, rest = text.split("[[target]]", 1)
            text = head + ENTRA_TARGET_TEMPLATE.format(
                tenant=self.graph.knobs.tenant, client_id=self.graph.knobs.client_id,
                graph_url=self.graph.graph_url, authority_url=self.graph.root) + "\n[safety]" + rest.split("[safety]", 1)[1]
        self.config_path.write_text(text, encoding="utf-8")
        for stale in ("hybridsync.db", "hybridsync.db-wal", "hybridsync.db-shm"):
            (self.workdir / stale).unlink(missing_ok=True)
        self.console.print(f"[green]✓[/] config written: {self.config_path}")

    def stop(self) -> None:
        if self.scim is not None:
            self.scim.stop()
        if self.graph is not None:
            self.graph.stop()
        if self.dc is not None:
            self.dc.close()

    # -------------------------------------------------------------- helpers
    def engine(self) -> Any:
        from hybridsync.engine import Engine, load_config

        return Engine(load_config(self.config_path))

    def scim_users(self) -> list[dict[str, Any]]:
        """The target's users in SCIM terms (userName, displayName, active, externalId)."""
        if self.graph is not None:
            return [{"id": u["id"], "userName": u.get("userPrincipalName"), "displayName": u.get("displayName"),
                     "active": u.get("accountEnabled"), "externalId": u.get("onPremisesImmutableId")}
                    for u in self.graph.backdoor.users()]
        assert self.scim is not None and self.scim.backdoor is not None
        return self.scim.backdoor.resources("User", members=False)

    def groups(self) -> list[dict[str, Any]]:
        """The target's groups in SCIM terms (displayName, members)."""
        if self.graph is not None:
            return [{"id": g["id"], "displayName": g.get("displayName"),
                     "members": [{"value": m} for m in self.graph.backdoor.members(g["id"])]}
                    for g in self.graph.backdoor.groups()]
        assert self.scim is not None and self.scim.backdoor is not None
        return list(self.scim.backdoor.resources("Group"))

    # The live part polls these every few ms while the engine works: one indexed read of one
    # resource each, never the whole directory (listing the lab's 5,000 users through the
    # backdoor takes ~1 s, blocks scim2-server's event loop meanwhile -- the engine's own
    # requests wait behind it -- and was what the lab timed instead of the engine).
    def scim_user(self, user_name: str) -> dict[str, Any] | None:
        if self.graph is None:
            assert self.scim is not None and self.scim.backdoor is not None
            found = self.scim.backdoor.find("User", "userName", user_name, members=False)
            return found[0] if found else None
        u = self._graph_find("user", "userPrincipalName", user_name)
        return None if u is None else {"id": u["id"], "userName": u.get("userPrincipalName"),
                                       "displayName": u.get("displayName"), "active": u.get("accountEnabled"),
                                       "externalId": u.get("onPremisesImmutableId"), "title": u.get("jobTitle")}

    def scim_group(self, display_name: str) -> dict[str, Any] | None:
        if self.graph is None:
            assert self.scim is not None and self.scim.backdoor is not None
            found = self.scim.backdoor.find("Group", "displayName", display_name)
            return found[0] if found else None
        g = self._graph_find("group", "displayName", display_name)
        return None if g is None else {"id": g["id"], "displayName": g.get("displayName"),
                                       "members": [{"value": m} for m in self.graph.backdoor.members(g["id"])]}

    def _graph_find(self, kind: str, attribute: str, value: str) -> dict[str, Any] | None:
        """One live (not soft-deleted) object of the fake Graph by an attribute, case-insensitively,
        without serializing the others."""
        d = self.graph.directory
        with d.lock:
            hit = next((o.id for o in d.objects.values() if o.kind == kind and o.deleted_at is None
                        and str(o.data.get(attribute) or "").casefold() == value.casefold()), None)
        return None if hit is None else self.graph.backdoor.get(hit)


def expected_objects(lab: Lab) -> int | None:
    """How many objects the seeded scope holds (for the progress bar's ETA on a first sync)."""
    seed = getattr(lab, "seed", None)
    if seed is None:
        return None
    return (len(seed.users) + len(seed.odd_users) + len(seed.groups) + len(seed.contacts)
            + seed.large_group_members) or None


def full_sync(lab: Lab, progress: Callable[..., Any]) -> Any:
    """One full sync of the lab, shown with ``progress(console, expected=, label=)`` -- a
    context manager whose ``update`` is the engine's progress callback (the CLI's
    ``SyncProgress``: the lab sits below the CLI and does not import it)."""
    c = lab.console
    engine = lab.engine()
    with progress(c, expected=expected_objects(lab), label="full sync") as bar:
        t0 = time.perf_counter()
        report = engine.run_once(progress=bar.update)
        took = time.perf_counter() - t0
    engine.close()
    counts = ", ".join(f"{k} {v}" for k, v in sorted(report.counts.items())) or "nothing"
    c.print(f"[green]✓[/] full sync in {took:.1f} s: {counts}; failed {report.failed}")
    for p in report.problems[:5]:
        c.print(f"  [yellow]problem[/] {p.get('stage')} {p.get('dn') or p.get('anchor')}: {p.get('message')}")
    if len(report.problems) > 5:
        c.print(f"  ... and {len(report.problems) - 5} more problems in {lab.workdir / 'hybridsync.log'}")
    return report


def show_target(lab: Lab) -> None:
    users = lab.scim_users()
    groups = lab.groups()
    where = "the fake Microsoft Graph" if lab.graph is not None else "the SCIM server"
    t = Table(title=f"What landed in {where}: {len(users)} users, {len(groups)} groups")
    for col in ("userName", "displayName", "active", "externalId"):
        t.add_column(col, overflow="fold")
    odd = {str(r.get("userName")): r for r in users}
    shown = [u for u in users if not str(u.get("userName", "")).startswith("lm-")][:12]
    for u in shown:
        t.add_row(str(u.get("userName")), str(u.get("displayName", ""))[:60], str(u.get("active")),
                  str(u.get("externalId")))
    lab.console.print(t)
    g = Table(title="Groups")
    g.add_column("displayName")
    g.add_column("members", justify="right")
    for grp in sorted(groups, key=lambda x: x.get("displayName", "")):
        g.add_row(grp.get("displayName", ""), str(len(grp.get("members") or ())))
    lab.console.print(g)
    del odd


def wait_for(check: Callable[[], bool], timeout: float = 30.0, every: float = 0.02) -> float | None:
    """Seconds until ``check()`` holds (None after ``timeout``), asking every ``every`` s: each
    check is one cheap read (``Lab.scim_user``), so the figure is the engine's to ~20 ms."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if check():
            return time.perf_counter() - t0
        time.sleep(every)
    return None
