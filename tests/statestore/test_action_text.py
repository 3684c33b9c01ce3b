"""A journaled Action's text is encoded once: its decision in the same commit reuses it."""

from __future__ import annotations

import json

from hybridsync.engine.core.values import Action
from hybridsync.statestore import Store
from hybridsync.statestore.testing.samples import intent


def test_a_journaled_action_is_encoded_once_and_its_decision_holds_the_same_text(monkeypatch):
    calls: list[str] = []
    real = Action.to_json

    def counted(self: Action) -> str:
        calls.append(self.anchor)
        return real(self)

    monkeypatch.setattr(Action, "to_json", counted)
    actions = [intent(n) for n in range(3)]
    with Store.open(":memory:") as s:
        s.journal_intents(7, actions)
        journaled = [p.action.to_json() for p in s.pending_intents()]
        calls.clear()
        with s.atomic():
            for a in actions:
                s.record_decision(7, a, result="ok")
        assert calls == []  # the journal's text, not a second encoding
        raw = [r[0] for r in s._conn.execute("SELECT data FROM history WHERE kind = 'decision' ORDER BY id")]
        assert raw == [real(a) for a in actions] == journaled  # byte for byte what to_json() writes


def test_an_equal_action_that_was_not_journaled_is_encoded_itself():
    a = intent(1)
    twin = Action.from_dict(json.loads(a.to_json()))
    with Store.open(":memory:") as s:
        s.journal_intents(1, [a])
        with s.atomic():
            s.record_decision(1, twin, result="ok")
            s.record_decision(1, a, result="ok")
            s.record_decision(1, a, result="ok")  # a second decision of it: encoded again, the same text
        raw = [r[0] for r in s._conn.execute("SELECT data FROM history WHERE kind = 'decision' ORDER BY id")]
        assert raw == [a.to_json()] * 3
