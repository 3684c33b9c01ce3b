"""``StateStore``: what the engine, the CLI and the audit tools may ask of a state store.

The SQLite ``Store`` implements it; a second implementation (PostgreSQL, for several engine
processes) implements it too and proves it by subclassing the conformance kit,
``hybridsync.statestore.testing.StoreContract``. The promises every implementation keeps are
in README.md ("Guarantees"); the kit tests them.

The protocol is split by subject (``ObjectStore``, ``TargetStore``, ``LogStore``,
``RecordingStore``, ``FactStore``) so that a function can ask for only what it uses;
``StateStore`` is all of them plus the lifecycle (``atomic``, ``close``, ``dump`` ...).
How a store is opened or loaded from a dump is each implementation's own business (for SQLite:
``Store.open(path)``, ``Store.load(fp, path)``).

Errors: ``StaleWatermark``, ``WatermarkRegression``, ``StoreMisuse``, ``StoreCorrupt``
(``errors.py``), ``KeyError`` for an unknown cycle, round, intent or hold.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from typing import IO, Any, Protocol, runtime_checkable

from hybridsync.engine.core.values import Action, Cursor, ObjectKind, ObjectState, TargetState
from hybridsync.statestore.opening import CycleOpening
from hybridsync.statestore.pageread import PageRead
from hybridsync.statestore.records import (
    BatchRecord,
    CallRecord,
    CycleRecord,
    HeldRecord,
    HistoryRecord,
    Intent,
    QuarantineRecord,
    WatermarkRecord,
)


class ObjectStore(Protocol):
    """Source objects (per source) with their members, DN history and full-read rounds."""

    def get_object(self, source: str, anchor: str) -> ObjectState | None:
        """The stored object, or None."""

    def get_objects(self, source: str, anchors: Iterable[str]) -> dict[str, ObjectState]:
        """Anchor -> ObjectState for those that exist (missing anchors are simply absent)."""

    def object_by_guid(self, source: str, guid: str) -> ObjectState | None:
        """By objectGUID (base64) -- differs from the anchor when mS-DS-ConsistencyGuid is used."""

    def find_objects(self, ref: str) -> list[ObjectState]:
        """Objects matching ``ref`` across sources: objectGUID (base64 or text GUID form),
        anchor, DN (case-insensitive), sAMAccountName or userPrincipalName (case-insensitive).
        Live objects first, then tombstones."""

    def put_object(self, state: ObjectState, *, at: datetime | None = None,
                   had_members: bool | None = None) -> None:
        """Insert or replace. Appends to DN history when the DN changed (or is new). Writing a
        large group whose members barely changed costs the change, not the group's size.

        ``had_members``: what the caller knows of the anchor's STORED members. None (the
        default): unknown, the store finds out (today's behaviour). True: some are stored (the
        same as None). False: none are stored -- the store may skip reading or deleting them and
        insert ``state.members`` as they are. A False is only safe from a read of this anchor that
        nothing written since can contradict: the engine passes it from the same cycle's read of
        the page (``read_page``, this cycle's uncommitted writes laid over it), for the first write
        of the anchor in the commit unit only and only if no unit wrote it since that read, as the
        source's only writer (the fenced lease
        holder: a former leader's later commits are refused; ``remove_member_everywhere`` only
        removes rows). A wrong False leaves stale members behind."""

    def iter_objects(self, source: str, *, kind: ObjectKind | None = None,
                     include_deleted: bool = True) -> Iterator[ObjectState]:
        """Stream a source's objects in anchor order without holding them all (writing to the
        store between items is allowed and does not disturb the iteration)."""

    def count_objects(self, source: str, *, include_deleted: bool = True) -> int:
        """How many objects of ``source`` are stored (tombstones too unless told otherwise)."""

    def mark_seen(self, source: str, anchors: Iterable[str], round_no: int) -> None:
        """Set last_seen_round for these anchors (a full read saw them)."""

    def anchors_not_seen_since(self, source: str, round_no: int) -> list[str]:
        """Non-deleted anchors whose last_seen_round < round_no."""

    def groups_with_member(self, source: str, guid: str) -> list[str]:
        """Anchors of stored groups whose member set holds objectGUID ``guid``."""

    def groups_with_members(self, source: str, guids: Iterable[str]) -> set[str]:
        """Anchors of stored groups whose member set holds any of ``guids`` (one query for many
        ``groups_with_member`` calls)."""

    def remove_member_everywhere(self, source: str, guid: str) -> list[str]:
        """The member trap: drop ``guid`` from every stored member set; returns the groups'
        anchors (a deleted member does not bump the group's USN in AD)."""

    def dn_history(self, source: str, anchor: str) -> list[tuple[str, datetime]]:
        """(dn, seen_at) oldest first."""

    def anchors_by_former_dn(self, source: str, dn: str) -> list[str]:
        """The anchors of ``source`` that had ``dn`` at some time, latest first."""

    def live_at_dn(self, source: str, dn: str) -> list[ObjectState]:
        """The live objects of ``source`` whose DN is ``dn`` (case-insensitive), by the DN index
        (a reference's DN resolves without a scan)."""

    def reports_of(self, source: str, anchors: Iterable[str], *, dns: Iterable[str] = ()) -> set[str]:
        """Who references these objects: the live objects of ``source`` whose stored
        ``manager`` names one of ``anchors`` by its DN or a DN in its history, or one of ``dns``
        (a DN not stored yet), compared normalized. An index (``objects.manager_dn``), never a
        scan of the store."""

    def begin_full_round(self, source: str, *, at: datetime | None = None) -> int:
        """Start a full-read round; returns its number (1, 2, ... per source)."""

    def complete_full_round(self, source: str, round_no: int, count: int, *,
                            at: datetime | None = None) -> None:
        """Mark a round's full read complete (the evidence that absence means gone)."""

    def last_complete_round(self, source: str) -> tuple[int, int, datetime] | None:
        """(round_no, count, finished_at) of the newest complete full read, or None."""


class TargetStore(Protocol):
    """Target states (per object and target) and watermarks (per source and DC)."""

    def get_target_state(self, target: str, anchor: str) -> TargetState | None:
        """The stored (object, target) state, or None."""

    def get_target_states(self, target: str, anchors: Iterable[str]) -> dict[str, TargetState]:
        """Anchor -> TargetState for the pairs that exist."""

    def put_target_state(self, state: TargetState, *, had_members: bool | None = None) -> None:
        """Insert or replace, ``members_sent`` included (a barely changed large group costs the
        change, not its size). ``had_members``: as for ``put_object``, of the (target, anchor)
        pair's stored ``members_sent`` (False: none stored, nothing read or deleted)."""

    def delete_target_state(self, target: str, anchor: str) -> None:
        """Forget one (object, target) pair and its sent members."""

    def iter_target_states(self, target: str, *, state: str | None = None) -> Iterator[TargetState]:
        """Stream a target's states in anchor order without holding them all."""

    def due_retries(self, target: str, now: datetime) -> list[TargetState]:
        """States with next_retry_at <= now, soonest first."""

    def target_state_by_target_id(self, target: str, target_id: str, *,
                                  kind: str | None = None) -> TargetState | None:
        """The state whose object has ``target_id`` at ``target`` (and is of ``kind`` when given:
        a server may number users and groups apart), or None."""

    def counts_by_state(self) -> dict[str, dict[str, int]]:
        """target -> lifecycle state -> count."""

    def has_target_states(self, target: str) -> bool:
        """Whether ``target`` has any stored state (False: its first sync)."""

    def target_groups_with_member(self, target: str, member_anchor: str) -> list[str]:
        """Anchors of the groups whose stored ``members_sent`` at ``target`` hold
        ``member_anchor``, in anchor order."""

    def get_cursor(self, source: str) -> Cursor:
        """The active cursor of ``source``; ``Refresh("no stored cursor")`` when none."""

    def watermarks(self, source: str | None = None) -> list[WatermarkRecord]:
        """Every (source, DC) watermark row, active ones first."""

    def advance_watermark(self, source: str, dc: str, expected: Cursor, new: Cursor) -> int:
        """Compare-and-swap the active cursor of ``source`` to ``new`` (stored under DC ``dc``).

        Raises ``StaleWatermark`` (changing nothing) when the stored active cursor != expected
        (any Refresh equals any Refresh). Raises ``WatermarkRegression`` when a USN watermark
        would go below the highest USN ever stored for that DC, when a USN cursor names another
        DC than ``dc``, or when the DC changes while the active cursor is not a Refresh. Run it
        inside the same ``atomic()`` as the outcomes it covers. Returns the row's new version.
        """


class LogStore(Protocol):
    """History, batches, journal, held deletes, quarantine."""

    def record_observation(self, cycle_id: int | None, source: str, anchor: str, dn: str | None,
                           kind: ObjectKind | str | None, change: dict[str, Any],
                           at: datetime | None = None) -> int:
        """Record one observed source change (attribute diff, DN move, tombstone), as given."""

    def record_decision(self, cycle_id: int | None, action: Action, *, result: str,
                        status: int | None = None, detail: str | None = None,
                        at: datetime | None = None) -> int:
        """Record one decision (the Action with its reason chain) and the target's response."""

    def record_leader(self, source: str, *, host: str, pid: int, epoch: int,
                      at: datetime | None = None) -> int:
        """Record that process ``pid`` on ``host`` took the lead of ``source`` with lease
        ``epoch`` (a history record of kind ``leader``; ``explain`` names the process and epoch
        behind each decision from these)."""

    def history(self, *, anchor: str | Iterable[str] | None = None, since: datetime | None = None,
                until: datetime | None = None, kinds: Iterable[str] | None = None,
                target: str | None = None, cycle_id: int | None = None) -> Iterator[HistoryRecord]:
        """Provisioning-log records, oldest first, streamed."""

    def decisions(self, *, anchor: str | Iterable[str] | None = None, since: datetime | None = None,
                  until: datetime | None = None, target: str | None = None,
                  cycle_id: int | None = None) -> Iterator[HistoryRecord]:
        """``history(kinds=("decision",), ...)``."""

    def access_removals(self, target: str, since: datetime) -> int:
        """How many applied actions took access away at ``target`` since ``since`` (disables,
        deletes, updates setting ``active`` false, a group's soft delete removing its members):
        the delete threshold's rolling window."""

    def access_removal_times(self, target: str, since: datetime, *, after_id: int = 0,
                             upto_id: int | None = None) -> list[tuple[int, datetime]]:
        """(history id, time) of each access removal ``access_removals`` counts, restricted to
        ``after_id < id <= upto_id``: a caller keeping the window reads only the new rows."""

    def last_history_id(self) -> int:
        """The newest history row's id (0: none)."""

    def record_batch(self, cycle_id: int | None, source: str, batch_json: str,
                     at: datetime | None = None) -> int:
        """Keep one source batch (as JSON) for replay."""

    def iter_batches(self, until: datetime | None = None) -> Iterator[BatchRecord]:
        """Recorded batches in recording order, up to ``until`` (inclusive)."""

    def prune(self, before: datetime | None, *, recordings_before: datetime | None | str = "before"
              ) -> dict[str, int]:
        """Retention: delete history, settled intents, released holds and finished cycles older
        than ``before``, and the recordings (source batches, target calls) older than
        ``recordings_before`` (default: ``before``); None keeps that part. Returns rows deleted
        per table. Open intents, open holds and every current state are kept."""

    def journal_intent(self, cycle_id: int | None, action: Action, *,
                       at: datetime | None = None) -> int:
        """Write and COMMIT an intent before the target call. Raises ``StoreMisuse`` inside
        ``atomic()``: an intent that could roll back with its transaction would not survive the
        crash it exists for."""

    def journal_intents(self, cycle_id: int | None, actions: Iterable[Action], *,
                        at: datetime | None = None) -> list[int]:
        """Write and COMMIT many intents in ONE transaction (one fsync), before the target calls
        they announce; ids in the order of ``actions``. Raises ``StoreMisuse`` inside ``atomic()``
        for the same reason as ``journal_intent``."""

    def journal_done(self, intent_ids: Iterable[int]) -> None:
        """Settle intents whose outcomes are recorded in this same commit unit by deleting their
        rows: a settled intent has no further use (the decision is in history), so the journal
        stays as small as the calls in flight. Call it inside the ``atomic()`` of the outcomes."""

    def journal_settle(self, intent_id: int, result: str, *, at: datetime | None = None) -> None:
        """Settle an intent (typically in the same ``atomic()`` as the outcome it led to)."""

    def pending_intents(self) -> list[Intent]:
        """Unsettled intents, oldest first (settle these before planning after a crash)."""

    def hold(self, action: Action, reason: str, *, at: datetime | None = None) -> int:
        """Hold a delete/disable. One open hold per (target, anchor, action kind): holding the
        same again refreshes its action and reason and keeps its id, time and approval."""

    def held(self, target: str | None = None, *, include_approved: bool = False,
             adoptions: bool | None = False) -> list[HeldRecord]:
        """Open holds (not released), by default only those still waiting for approval, and only
        held disables/deletes (``adoptions`` True: only pending adoptions; None: both)."""

    def approve_held(self, target: str | None = None, *, by: str, at: datetime | None = None,
                     adoptions: bool = False, ids: Iterable[int] | None = None) -> int:
        """Approve every waiting hold (of ``target``, or all; only those of ``ids`` when given) --
        held disables/deletes, or pending adoptions with ``adoptions`` -- recording who and when,
        also as an ``approval`` history entry. Returns how many were approved."""

    def approved_actions(self, target: str) -> list[HeldRecord]:
        """Approved, not yet released holds of ``target``: the engine applies, then releases."""

    def release(self, held_id: int, *, at: datetime | None = None) -> None:
        """Close a hold (applied after approval, or no longer needed)."""

    def quarantine(self, target: str, reason: str, until: datetime | None, *,
                   at: datetime | None = None) -> None:
        """Pause ``target`` until ``until`` (its next retry); repeated calls count up and keep
        the first ``since``."""

    def quarantined(self) -> list[QuarantineRecord]:
        """Every quarantined target, by target name."""

    def clear_quarantine(self, target: str) -> None:
        """End ``target``'s quarantine (nothing happens when it has none)."""


class RecordingStore(Protocol):
    """Recorded target calls."""

    def record_call(self, cycle_id: int | None, target: str, call_json: str,
                    at: datetime | None = None) -> int:
        """Keep one target call (op, call key and result as JSON) for replay."""

    def record_calls(self, rows: Iterable[tuple[int | None, str, str]],
                     at: datetime | None = None) -> None:
        """Keep many (cycle_id, target, call_json) at once (one commit unit when inside atomic)."""

    def iter_calls(self, *, cycle_id: int | None = None) -> Iterator[CallRecord]:
        """Recorded calls in recording order (of one cycle when ``cycle_id`` is given)."""


class FactStore(Protocol):
    """Cycles, target profiles, meta keys and the source facts kept in them."""

    def begin_cycle(self, source: str, mode: str, at: datetime | None = None) -> int:
        """Record the start of a reconcile cycle; returns its id (ids grow). Called alone, its
        commit need not reach the disk by itself: every other handle sees the row once this
        returns (a process that dies mid-cycle leaves it begun and unfinished), and the next
        commit unit makes it durable -- a cycle's journal commits before any target call, so a
        machine crash can lose only a cycle that left nothing durable. Inside a commit unit it
        goes with that unit."""

    def end_cycle(self, cycle_id: int, *, status: str, counts: dict[str, Any], duration_s: float,
                  at: datetime | None = None) -> None:
        """Record the end of cycle ``cycle_id`` (``KeyError``: no such cycle). Durable like
        ``begin_cycle``: seen by every handle at once, on disk with the next commit unit (or the
        store's next flush); a machine crash right after it may leave the cycle unfinished."""

    def last_cycles(self, n: int = 10, *, source: str | None = None) -> list[CycleRecord]:
        """Newest first."""

    def cycle_source(self, cycle_id: int) -> str | None:
        """The source a cycle read (None: no such cycle, e.g. pruned)."""

    def put_target_profile(self, target: str, profile: dict[str, Any]) -> None:
        """Cache what a target announced (SCIM dialect, ServiceProviderConfig facts)."""

    def target_profile(self, target: str) -> dict[str, Any] | None:
        """What ``put_target_profile`` stored for ``target``, or None."""

    def target_profiles(self) -> dict[str, dict[str, Any]]:
        """Every stored target profile, by target name."""

    def meta_get(self, key: str, default: Any = None) -> Any:
        """A stored meta value (JSON), or ``default``."""

    def meta_set(self, key: str, value: Any) -> None:
        """JSON-serializable values only."""

    def meta_items(self) -> dict[str, Any]:
        """Every meta key and value."""

    def set_source_fact(self, source: str, fact: str, value: Any) -> None:
        """A fact about a source that ``status`` shows (meta key ``source.<name>.<fact>``), e.g.
        ``privilege`` ("replicating" / "least-privilege"), ``delta_mode``, ``tombstones``."""

    def source_facts(self, source: str) -> dict[str, Any]:
        """The facts ``set_source_fact`` stored for ``source``, by fact name."""


@runtime_checkable
class StateStore(ObjectStore, TargetStore, LogStore, RecordingStore, FactStore, Protocol):
    """Everything the engine, the CLI and the audit tools use on a state store."""

    @property
    def path(self) -> str:
        """Where the store lives (a file path, ``":memory:"``, or a DSN without its secret)."""

    @property
    def format_version(self) -> int:
        """The stored data's format version (only grows; see README.md)."""

    def is_empty(self) -> bool:
        """True when the store holds no objects, states, cycles, watermarks or history."""

    def cycle_opening(self, source: str, targets: Iterable[str], now: datetime, *,
                      removals_since: datetime | None = None, meta_keys: Iterable[str] = (),
                      begin_cycle_at: datetime | None = None, force_full: bool = False) -> CycleOpening:
        """What a cycle of ``source`` asks before it reads, answered at once (PostgreSQL: one
        round trip): the cursor, the last complete round, the source's pending intents,
        quarantines, per target of ``targets`` the approved holds, the retries due at ``now``
        and (with ``removals_since``) ``access_removals``, and the values of ``meta_keys``.
        Each field equals the single-question method's answer (see ``opening.CycleOpening``).
        With ``begin_cycle_at``, it also begins the cycle (``begin_cycle`` at that time, same
        durability; mode ``full`` when ``force_full`` or the cursor answered is a ``Refresh``,
        else ``delta``): ``cycle_id`` and ``cycle_mode`` of the answer (PostgreSQL: in the same
        round trip)."""

    def read_page(self, source: str, anchors: Iterable[str], targets: Iterable[str]) -> PageRead:
        """``get_objects(source, anchors)`` and, per target of ``targets``,
        ``get_target_states(target, anchors)``, answered at once (PostgreSQL: one round trip;
        see ``pageread.PageRead``)."""

    def close(self) -> None:
        """Release the store's connection; the store is unusable afterwards."""

    def atomic(self) -> AbstractContextManager[StateStore]:
        """One commit unit: everything written inside commits together or not at all (a raise
        inside leaves nothing behind). Nested blocks are savepoints: a raise inside the inner
        block undoes only the inner block's writes."""

    def dump(self, fp: IO[str]) -> None:
        """Write the whole store as JSON Lines (the format in README.md), one consistent point
        in time; an implementation's ``load`` reads it back into an equal store."""
