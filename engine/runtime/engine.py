"""The host API: ``Engine(config)``, ``run_once() -> RunReport``, ``run_forever(stop_event)``;
``provision(ref)``, ``status()``, ``log()``, ``approve_deletes()`` and ``explain(ref)`` return
what the CLI shows, as values; ``Engine.offline(config)`` answers the read-only ones from the
state store alone. Every CLI command is a thin view over these.

No global logging configuration, no signal handlers, no threads: ``run_forever`` runs in the
caller's thread, sleeps in ``source.wait_for_change`` (woken by AD change notification or a
short poll) and returns promptly once ``stop_event`` is set, after the object in flight.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from hybridsync import __version__
from hybridsync.connectors.base import Source, Target, load_connector_class
from hybridsync.engine.core.config import Config, SourceConfig, TargetConfig
from hybridsync.engine.core.states import CycleStatus
from hybridsync.engine.core.values import CycleProgress, ReadMode
from hybridsync.engine.mapping.projection import TargetMapping, compile_mapping
from hybridsync.engine.mapping.writeonly import SALT_KEY, salt_for_cycle
from hybridsync.engine.runtime import admin
from hybridsync.engine.runtime.admin import Approval, NoStateStore, NoSuchObject, ProvisioningLog
from hybridsync.engine.runtime.context import CycleSetup
from hybridsync.engine.runtime.cycle import Cycle, run_cycle
from hybridsync.engine.runtime.report import ObjectOutcome, RunReport, _report  # noqa: F401  (ObjectOutcome re-exported)
from hybridsync.engine.runtime.evidence import ScreenedSource
from hybridsync.engine.runtime.explain import explain as explain_timeline
from hybridsync.engine.runtime.window import RemovalWindow
from hybridsync.engine.runtime.provision import ProvisionReport, provision_object
from hybridsync.engine.runtime.recording import Recorder, RecordingSource, RecordingTarget
from hybridsync.engine.runtime.retention import run_retention
from hybridsync.engine.runtime.snapshot import SnapshotWritten, write_snapshot
from hybridsync.engine.runtime.status import Status, read_status
from hybridsync.statestore import StateStore
from hybridsync.statestore.factory import open_store as open_configured_store

log = structlog.get_logger("hybridsync.engine")
MAX_FOLLOWUPS = 2  # follow-up cycles run_forever runs at once, in a row (then it waits as usual)
FULL_READ_RETRY_BASE = 30.0  # seconds before a failed periodic full read is retried (doubling)
_UNSET = object()


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Engine:
    """The reconcile engine for one config. Inject ``store``/``sources``/``targets``/``clock`` in tests."""

    def __init__(self, config: Config, *, store: StateStore | None = None,
                 sources: Mapping[str, Source] | None = None, targets: Mapping[str, Target] | None = None,
                 clock: Callable[[], datetime] | None = None, mappings: Mapping[str, TargetMapping] | None = None,
                 seed: int = 0, record: bool | None = None, open_store: bool = True):
        """``store`` None: the config's state store, opened (created) here -- unless
        ``open_store`` is False (``Engine.offline`` over a store that does not exist yet)."""
        self.config = config
        self.clock = clock or _utcnow
        self.seed = seed
        record = config.state.record if record is None else record
        self._owns_store = store is None
        if store is None and open_store:
            store = open_configured_store(config.state)  # the SQLite file, or PostgreSQL ([state] url)
        self.store: StateStore | None = store
        self._owned_connectors: list[Any] = []
        if mappings is None:
            mappings = {t.name: compile_mapping(t, file=config.path, index=i) for i, t in enumerate(config.targets)}
        self.mappings: dict[str, TargetMapping] = dict(mappings)
        targets = dict(targets) if targets is not None else self._build_targets(config.targets)
        sources = dict(sources) if sources is not None else self._build_sources(config.sources)
        # Every batch read and every target call is recorded with its cycle, for replay.
        self.recorder = Recorder() if record else None
        if self.recorder is not None:
            sources = {n: RecordingSource(ScreenedSource(s), self.recorder, n) for n, s in sources.items()}
            write_only = {t.name: t.write_only for t in config.targets}
            targets = {n: RecordingTarget(t, self.recorder, n, write_only.get(n, ())) for n, t in targets.items()}
        self.sources: dict[str, Source] = sources
        self.targets: dict[str, Target] = targets
        self.mappings = {n: m for n, m in self.mappings.items() if n in self.targets}
        self._last_full: dict[str, float] = {}
        self._full_failures: dict[str, int] = {}  # failed periodic full reads in a row, per source
        self._facts: dict[tuple[str, str], Any] = {}
        self._removals = RemovalWindow()  # the delete threshold's window, read incrementally
        self._salt: tuple[Any, str] = (None, "")  # (store, its salt): a store's salt, once made, stays
        self._pruned_at: tuple[Any, datetime] | None = None  # (store, when retention last ran) as last read
        self._followup: dict[str, set[str]] = {}  # source -> anchors a cycle left for a follow-up
        # Several processes on one PostgreSQL store: run only the sources this process leads
        # (runtime.leadership.Spread.leads; asked before each source's cycle). None: all.
        self.leads: Callable[[str], bool] | None = None
        self._ran: set[str] = set()  # the sources the last run_once ran (periodic full reads: only theirs)

    def _own(self, conn: Any) -> Any:
        """A connector this engine built (and closes)."""
        self._owned_connectors.append(conn)
        return conn

    def _build_targets(self, configs: Iterable[TargetConfig]) -> dict[str, Target]:
        return {c.name: self._own(load_connector_class(c.kind)(c)) for c in configs}

    def _build_sources(self, configs: Iterable[SourceConfig]) -> dict[str, Source]:
        return {c.name: self._own(load_connector_class(c.kind)(c, attributes=self.source_attributes(c)))
                for c in configs}

    @classmethod
    def offline(cls, config: Config, *, writable: bool = False) -> "Engine":
        """An engine over the config's existing state store and nothing else: no connectors, so
        no secrets are read and nothing talks to AD or a target. For ``status``, ``log``,
        ``explain`` and ``snapshot`` (read-only: the store is never created, migrated or written,
        and needs no writer's place) and, with ``writable=True``, ``approve_deletes``. A store that does not
        exist is not created: ``store`` is None and the queries answer "nothing yet". Raises
        ``StoreCorrupt`` when the file is not a readable state store."""
        store = admin.open_existing_store(config.state, readonly=not writable)
        engine = cls(config, store=store, sources={}, targets={}, mappings={}, record=False, open_store=False)
        engine._owns_store = store is not None
        return engine

    def _open(self) -> StateStore:
        """The state store a cycle or a provision writes to (an offline engine over no store has none)."""
        if self.store is None:
            raise NoStateStore(self.config.state.path)
        self._use_salt(self.store)
        return self.store

    def _use_salt(self, store: StateStore) -> None:
        """Key the mappings' write-only placeholders with the store's salt (mapping/writeonly.py)."""
        if self._salt[0] is store:
            salt = self._salt[1]  # one read per store, not two per cycle (a round trip on PostgreSQL)
        else:
            salt = salt_for_cycle(store.meta_get(SALT_KEY))
            if salt:  # none yet (an old store): asked again, a migration may make it
                self._salt = (store, salt)
        self.mappings = {n: m.with_salt(salt) if hasattr(m, "with_salt") else m for n, m in self.mappings.items()}

    def source_attributes(self, source_config: SourceConfig) -> tuple[str, ...]:
        """The source attributes the mappings and the scope filters read (beyond the fixed ones)."""
        names: set[str] = set()
        for mapping in self.mappings.values():
            for kind in ("user", "group", "contact"):
                names |= set(mapping.references(kind))
        for group in source_config.scope.filters:
            names |= {c.attribute.lower() for c in group}
        return tuple(sorted(names))

    # ------------------------------------------------------------------ one cycle
    def run_once(self, *, dry_run: bool = False, full: bool | str = False,
                 stop_event: threading.Event | None = None,
                 progress: Callable[[CycleProgress], None] | None = None, followups: int = 0) -> RunReport:
        """One reconcile cycle per source. ``full`` forces a complete full read. ``followups``:
        when a cycle leaves work that only another cycle can do (``RunReport.followup``), run up
        to that many more delta cycles now (``sync --once`` converges in one invocation)."""
        reports: list[Cycle] = []
        for round_no in range(1 + max(0, followups)):
            if round_no and (dry_run or not reports or not reports[-1].state.followup_groups
                             or (stop_event is not None and stop_event.is_set())):
                break
            self._cycles(reports, dry_run=dry_run, full=full if not round_no else False,
                         stop_event=stop_event, progress=progress)
        if not dry_run:
            self._ran = {c.setup.source_name for c in reports}
        if not dry_run and reports:
            self._record_facts()
            self.retain()
        return _report(reports)

    def _cycles(self, reports: list[Cycle], *, dry_run: bool, full: bool | str,
                stop_event: threading.Event | None, progress: Callable[[CycleProgress], None] | None) -> None:
        for src in self.sources:
            if self.leads is not None and not dry_run and not self.leads(src):
                continue
            reason = (full if isinstance(full, str) else "full read requested") if full else None
            cycle = Cycle.start(CycleSetup(store=self._open(), config=self.config, source_name=src,
                                           sources=self.sources, targets=self.targets, mappings=self.mappings,
                                           clock=self.clock, dry_run=dry_run, full_reason=reason,
                                           stop_event=stop_event, seed=self.seed, progress=progress,
                                           recorder=self.recorder, removals=self._removals))
            if not dry_run:  # what the last cycle left for a follow-up is planned in this one's due pass
                cycle.state.followup_groups.update(self._followup.pop(src, ()))
            if self.recorder is not None:
                self.recorder.enabled = not dry_run
            try:
                run_cycle(cycle)
            finally:
                if self.recorder is not None:
                    self.recorder.discard()  # what no commit took (dry run, failed page) is not kept
            if cycle.state.mode == ReadMode.FULL and cycle.state.status == CycleStatus.OK:
                self._last_full[src] = time.monotonic()
            if not dry_run and cycle.state.followup_groups:
                self._followup[src] = set(cycle.state.followup_groups)
            reports.append(cycle)

    def retain(self, *, force: bool = False) -> dict[str, int] | None:
        """Run the retention policy (``[state] retain_days`` / ``record_days``) when it has not
        run for a day (``force``: now); returns the rows deleted per table, None when not due.
        ``run_once`` calls it after its cycles: at most once per ``sync``, once a day in
        ``run_forever``."""
        store = self._open()
        known = self._pruned_at[1] if self._pruned_at is not None and self._pruned_at[0] is store else None
        counts, when = run_retention(store, self.config.state, self.clock(), known=known, force=force)
        if when is not None:
            self._pruned_at = (store, when)
        return counts

    def _record_facts(self) -> None:
        """What ``status`` shows of each connector (delta mode, privilege, DC, deletion
        visibility; the detected SCIM dialect), written only when it changed."""
        facts: dict[tuple[str, str], Any] = {}
        for name, src in self.sources.items():
            try:
                for k, v in dict(src.describe()).items():
                    if isinstance(v, (str, int, float, bool)) or v is None:
                        facts[("source", f"{name}.{k}")] = v
            except Exception as exc:  # status is informative: never fail a cycle for it
                log.debug("describe_failed", source=name, error=str(exc)[:200])
        for name, tgt in self.targets.items():
            try:
                facts[("target", name)] = json.loads(json.dumps(dict(tgt.describe()), default=str))
            except Exception as exc:
                log.debug("describe_failed", target=name, error=str(exc)[:200])
        for (what, key), value in facts.items():
            if self._facts.get((what, key), _UNSET) == value:
                continue
            if what == "source":
                src_name, fact = key.split(".", 1)
                self._open().set_source_fact(src_name, fact, value)
            else:
                self._open().put_target_profile(key, value)
            self._facts[(what, key)] = value

    def plan(self) -> RunReport:
        """The plan of the next cycle, writing nothing anywhere."""
        return self.run_once(dry_run=True)

    # ------------------------------------------------------------------ what the CLI shows, as values
    def explain(self, ref: str, *, since: datetime | None = None) -> list[Any]:
        """The timeline of every stored object ``ref`` names (objectGUID, DN, sAMAccountName or
        UPN), as ``runtime.explain.Explanation`` values; raises ``NoSuchObject``."""
        if self.store is None:
            raise NoSuchObject(ref, f"the state store {self.config.state.path} does not exist yet")
        return explain_timeline(self.store, ref, since=since)

    def snapshot(self, out: str | Path, *, config_text: str | None = None) -> Any:
        """Write a self-contained snapshot of the state store (state, history, recorded source
        batches and the config text, every secret redacted) to ``out`` (``.gz``: compressed), for
        ``replay``. ``config_text`` defaults to the config file's text. Returns an
        ``runtime.snapshot.SnapshotWritten``; raises ``NoStateStore`` when there is no store yet."""
        if self.store is None:
            raise NoStateStore(self.config.state.path)
        if config_text is None:
            config_text = Path(self.config.path).read_text(encoding="utf-8") if self.config.path else ""
        n = write_snapshot(self.store, out, config_text=config_text, secrets=self.config.secret_values(),
                           version=__version__)
        return SnapshotWritten(path=str(out), size=Path(out).stat().st_size, redactions=n)

    def provision(self, ref: str, *, ignore_scope: bool = False, dry_run: bool = False) -> ProvisionReport:
        """Provision the object ``ref`` names (objectGUID, DN, sAMAccountName or UPN) now: read it
        from the first source that has it, plan it (honouring scope unless ``ignore_scope``) and
        apply it unless ``dry_run``. Recorded as a cycle of mode ``provision`` (with its read and
        target calls, so ``replay`` reproduces it); the source cursor does not move. Every step (read, scope, match, diff, action, response) is in the value."""
        try:
            return provision_object(ref, store=self._open(), config=self.config, sources=self.sources,
                                    targets=self.targets, mappings=self.mappings, clock=self.clock, seed=self.seed,
                                    ignore_scope=ignore_scope, dry_run=dry_run, recorder=self.recorder)
        finally:
            if self.recorder is not None:
                self.recorder.discard()  # what the provision's commit did not take (a dry run) is not kept

    def status(self) -> Status:
        """What the state store knows: per source and DC the watermark (never a cookie), the
        connector facts, the last cycle and full read; per target the lifecycle counts, dialect,
        quarantine and held deletes; the held actions; unsettled target operations."""
        return read_status(self.store, self.config)

    def log(self, *, object: str | None = None, since: datetime | None = None) -> ProvisioningLog:
        """The provisioning log: one record per object outcome, oldest first (of the objects
        ``object`` names; from ``since`` on). Raises ``NoSuchObject`` when ``object`` matches none."""
        return admin.provisioning_log(self.store, ref=object, since=since)

    def approve_deletes(self, target: str | None = None, *, by: str | None = None) -> Approval:
        """Let the actions held by the delete threshold (of ``target``, or all) proceed with the
        next cycle; records ``by`` (default: the OS user) and when. Raises ``UnknownTarget``."""
        return admin.approve_deletes(self.store, self.config, target, by=by)

    def approve_adoptions(self, target: str | None = None, *, ids: Iterable[int] | None = None,
                          by: str | None = None) -> Approval:
        """Approve pending adoptions (``ids``, or every one; of ``target``, or all): the next
        cycle adopts them. ``pending_adoptions()`` lists them. Raises ``UnknownTarget``."""
        return admin.approve_adoptions(self.store, self.config, target, ids=ids, by=by)

    def pending_adoptions(self, target: str | None = None) -> tuple[Any, ...]:
        return admin.pending_adoptions(self.store, self.config, target)

    # ------------------------------------------------------------------ forever
    def run_forever(self, stop_event: threading.Event, *, on_report: Callable[[RunReport], None] | None = None,
                    progress: Callable[[CycleProgress], None] | None = None) -> None:
        """Run cycles until ``stop_event`` is set: on a change signal, a short poll, or a periodic full read."""
        for src in self.sources:
            self._last_full.setdefault(src, time.monotonic())
        try:
            self._loop(stop_event, on_report, progress)
        finally:
            # release what waiting opened (the AD change-notification watcher and its receiver
            # thread): no thread outlives run_forever; sources reconnect lazily on the next read
            for source in self.sources.values():
                try:
                    source.close()
                except Exception as exc:
                    log.warning("source_close_failed", error=f"{type(exc).__name__}: {exc}"[:300])

    def _loop(self, stop_event: threading.Event, on_report: Callable[[RunReport], None] | None,
              progress: Callable[[CycleProgress], None] | None = None) -> None:
        followups = 0
        self._arm(stop_event)
        while not stop_event.is_set():
            due_full = [s for s in self.sources if (self.leads is None or s in self._ran)  # another leads it
                        and time.monotonic() - self._last_full.get(s, 0.0) >= self.config.source(s).full_read_interval]
            started = time.monotonic()
            try:
                report = self.run_once(full="periodic safety full read" if due_full else False, stop_event=stop_event,
                                       progress=progress)
            except Exception as exc:  # never let one bad cycle end the host's loop
                log.error("cycle_crashed", error=f"{type(exc).__name__}: {exc}"[:500])
                report = None
            for s in due_full:  # a failed full read is retried with backoff, not a whole interval later
                self._full_failures[s] = 0 if report is not None and self._last_full[s] >= started else \
                    self._full_failures.get(s, 0) + 1
                interval = self.config.source(s).full_read_interval
                delay = min(interval, FULL_READ_RETRY_BASE * 2 ** (self._full_failures[s] - 1)) \
                    if self._full_failures[s] else interval
                self._last_full[s] = time.monotonic() - interval + delay
            if report is not None and on_report is not None:
                on_report(report)
            if stop_event.is_set():
                break
            followups = followups + 1 if report is not None and report.followup else 0
            if 0 < followups <= MAX_FOLLOWUPS:
                continue  # the engine's own follow-up cycle: not "the next AD change"
            self._wait(stop_event)

    def _waiter(self) -> Callable[[float, threading.Event], bool] | None:
        """The one source's ``wait_for_change`` (None with several sources: they are polled)."""
        names = list(self.sources)
        return getattr(self.sources[names[0]], "wait_for_change", None) if len(names) == 1 else None

    def _arm(self, stop_event: threading.Event) -> None:
        """Open the change notification before the first cycle (a zero wait): a change committed
        while that cycle runs -- the slow one, it opens every connection -- then wakes the next
        cycle at once. Armed only by the first wait, it was missed and waited a whole poll."""
        waiter = self._waiter()
        if waiter is not None:
            try:
                waiter(0.0, stop_event)
            except Exception as exc:  # the poll still runs; the first wait tries again
                log.warning("notification_arm_failed", error=f"{type(exc).__name__}: {exc}"[:300])

    def _wait(self, stop_event: threading.Event) -> None:
        names = list(self.sources)
        if not names:
            stop_event.wait(1.0)
            return
        poll = min(self.config.source(n).poll_interval for n in names)
        waiter = self._waiter()
        if waiter is None:
            stop_event.wait(poll)
            return
        waiter(poll, stop_event)

    def close(self) -> None:
        for conn in self._owned_connectors:
            try:
                conn.close()
            except Exception:
                pass
        if self._owns_store and self.store is not None:
            self.store.close()

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
