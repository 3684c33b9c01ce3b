"""A real crash test: a subprocess writing commit units is kill -9'ed at random moments.

Each commit unit first journals an intent (committed on its own, as before a target call), then
writes one object, its target state, one history decision, settles the intent and advances the
USN watermark by compare-and-swap, all in one ``atomic()``. After every kill the reopened store must
hold exactly the units 1..N where N is the watermark: every committed unit whole, none partial,
and no unit the writer reported as committed is missing.
"""

from __future__ import annotations

import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hybridsync.engine.core.values import ObjectKind, UsnWatermark
from hybridsync.statestore import Store

WRITER = r'''
import sys
from hybridsync.engine.core.values import (Action, ActionKind, ObjectKind, ObjectState, Reason,
                                      TargetState, UsnWatermark)
from hybridsync.statestore import Store

store = Store.open(sys.argv[1])
for p in store.pending_intents():  # as the engine does first: did the call land?
    if store.get_object("corp", p.anchor) is not None:
        sys.exit(f"intent {p.id} for {p.anchor} is pending although its unit committed")
    store.journal_settle(p.id, "redo")
cursor = store.get_cursor("corp")
n = cursor.usn if isinstance(cursor, UsnWatermark) else 0
print("ready", n, flush=True)
while True:
    n += 1
    anchor = f"obj{n:06d}"
    create = Action(kind=ActionKind.CREATE, target="app", anchor=anchor,
                    object_kind=ObjectKind.GROUP, reasons=(Reason("test.unit"),))
    intent = store.journal_intent(n, create)  # committed before the "target call"
    with store.atomic():
        store.put_object(ObjectState(
            source="corp", anchor=anchor, object_guid=anchor, kind=ObjectKind.GROUP,
            dn=f"CN=g{n},OU=Groups,DC=lab,DC=test",
            attributes={"samaccountname": [f"g{n}"], "description": ["x" * 200]},
            members=frozenset(f"m{n}-{i}" for i in range(n % 7)), usn=n))
        store.put_target_state(TargetState(
            anchor=anchor, target="app", kind=ObjectKind.GROUP, state="provisioned",
            target_id=f"t{n}", projection={"displayName": f"g{n}", "n": n},
            members_sent=frozenset(f"m{n}-{i}" for i in range(n % 5))))
        store.record_decision(n, create, result="done", status=201)
        store.journal_settle(intent, "done")
        store.advance_watermark("corp", "dc-1", cursor, new := UsnWatermark("dc-1", n))
    cursor = new
    print("committed", n, flush=True)
'''


def _check_consistent(path: Path, at_least: int) -> int:
    with Store.open(path) as store:
        cursor = store.get_cursor("corp")
        n = cursor.usn if isinstance(cursor, UsnWatermark) else 0
        assert n >= at_least, f"unit {at_least} was reported committed but the watermark is {n}"
        assert store.count_objects("corp") == n
        objects = list(store.iter_objects("corp"))
        assert [o.anchor for o in objects] == [f"obj{i:06d}" for i in range(1, n + 1)]
        for o in objects:
            i = o.usn
            assert o.kind is ObjectKind.GROUP
            assert o.dn == f"CN=g{i},OU=Groups,DC=lab,DC=test"
            assert o.members == frozenset(f"m{i}-{k}" for k in range(i % 7))
        states = {s.anchor: s for s in store.iter_target_states("app")}
        assert len(states) == n
        for i in range(1, n + 1):
            s = states[f"obj{i:06d}"]
            assert s.projection["n"] == i
            assert s.members_sent == frozenset(f"m{i}-{k}" for k in range(i % 5))
        decisions = list(store.decisions())
        assert [d.anchor for d in decisions] == [f"obj{i:06d}" for i in range(1, n + 1)]
        # at most the one intent of the unit in flight, never one of a committed unit
        assert [p.anchor for p in store.pending_intents()] in ([], [f"obj{n + 1:06d}"])
        return n


def _committed_lines(out: str) -> list[int]:
    """The units a killed writer reported: only whole lines count (the kill can cut the last
    one short, e.g. "committ" or "committed " without its number)."""
    whole = out.split("\n")[:-1]  # the text after the last newline is a cut line, or empty
    return [int(m.group(1)) for m in map(re.compile(r"committed (\d+)").fullmatch, whole) if m]


def test_committed_lines_ignore_a_line_cut_by_the_kill() -> None:
    assert _committed_lines("ready 0\ncommitted 1\ncommitted 2\ncommitted ") == [1, 2]
    assert _committed_lines("committed 1\ncommitted 12") == [1]
    assert _committed_lines("committ") == []


@pytest.mark.slow
def test_kill_9_at_random_moments_leaves_only_whole_commit_units(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    rng = random.Random(20261123)
    kills = 0
    committed = 0
    before_ready = 0
    while kills < 24:
        proc = subprocess.Popen(
            [sys.executable, str(script), str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        if kills % 6 == 5:
            # now and then kill during start-up (open, migrations, first reads)
            time.sleep(rng.uniform(0.0, 0.4))
            before_ready += 1
        else:
            line = proc.stdout.readline()
            assert line.startswith("ready"), line + proc.stderr.read()
            assert int(line.split()[1]) >= committed
            time.sleep(rng.uniform(0.01, 0.25))
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL, err
        reported = _committed_lines(out)
        if reported:
            committed = max(committed, reported[-1])
        kills += 1
        n = _check_consistent(path, committed)
        committed = n
    assert kills >= 20
    assert committed > 20, "the writer never got going; the kills proved nothing"
