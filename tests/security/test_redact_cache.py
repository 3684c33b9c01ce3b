"""The forms of the known secrets are computed once per set of secrets, not once per value
redacted (a log event redacts each of its fields), and a secret remembered later still counts."""

from __future__ import annotations

import pytest

from hybridsync.engine.core import redact


@pytest.fixture(autouse=True)
def _clean():
    redact.forget_all()
    yield
    redact.forget_all()


def test_forms_are_computed_once_for_many_values_and_again_for_a_new_secret(monkeypatch):
    calls: list[str] = []
    real = redact.forms

    def counted(secret: str) -> list[str]:
        calls.append(secret)
        return real(secret)

    monkeypatch.setattr(redact, "forms", counted)
    redact.remember("tok-1111-aaaa")
    event = {f"field{i}": f"value {i} tok-1111-aaaa" for i in range(50)}
    clean, n = redact.redact_deep(event, objects=True)
    assert n == 50 and all(v.endswith(redact.MASK) and "tok-1111" not in v for v in clean.values())
    assert calls == ["tok-1111-aaaa"]
    redact.remember("pw-2222-bbbb")  # a secret read later is masked from then on
    assert redact.redact("a pw-2222-bbbb and tok-1111-aaaa") == f"a {redact.MASK} and {redact.MASK}"
    assert redact.redact('"pw-2222-bb') == f'"{redact.MASK}'  # cut at the end: still masked
    redact.forget_all()
    assert redact.redact("tok-1111-aaaa") == "tok-1111-aaaa"
    assert redact.redact("x tok-1111-aaaa", ["tok-1111-aaaa"]) == f"x {redact.MASK}"  # given secrets count too
