"""The mapping memo (a rule's value memoized by the values of the attributes it reads) never
changes a projection: context functions are never memoized, errors still name each object."""

from __future__ import annotations

from datetime import datetime, timezone

from hypothesis import given
from hypothesis import strategies as st

from hybridsync.engine.core.config import TargetConfig
from hybridsync.engine.mapping.expressions import EvalContext, parse
from hybridsync.engine.mapping.functions.registry import FUNCTIONS
from hybridsync.engine.mapping.projection import ProjectionContext, compile_mapping
from hybridsync.engine.core.values import ObjectKind, SourceObject

CLOCK = datetime(2026, 11, 23, 19, 0, tzinfo=timezone.utc)
RULES = {
    "userName": "[userPrincipalName]",
    "active": "Not(BitAnd([userAccountControl], 2))",
    "title": 'IIF([title]="A", "Alpha", [title])',
    "nickName": "Guid()",
    "locale": 'FormatDateTime(Now(), , "yyyyMMddHHmmss.fZ", "yyyy-MM-dd")',
    "userType": "CStr(BitAnd([department], 1))",  # an error for a non-numeric department
    "preferredLanguage": 'Split([mail], "@")',  # a list: never memoized
}


def user(i: int, uac: str, title: str, department: str) -> SourceObject:
    g = f"u{i:05d}"
    return SourceObject(anchor=g, object_guid=g, kind=ObjectKind.USER, dn=f"CN=User {i},OU=Staff,DC=lab,DC=test",
                        attributes={"userPrincipalName": f"user{i}@lab.test", "userAccountControl": uac,
                                    "title": title, "department": department, "mail": f"m{i}@lab.test"})


def test_functions_that_read_the_evaluation_context_are_flagged_and_never_memoized():
    flagged = {spec.name for spec in FUNCTIONS.values() if spec.context}
    assert flagged == {"Now", "Guid", "RandomString", "SelectUniqueValue"}
    mapping = compile_mapping(TargetConfig(name="app", mapping={"user": RULES}))
    memo = {r.path: r.memo is not None for r in mapping.rules["user"]}
    assert memo == {"userName": False, "active": True, "title": True, "nickName": False, "locale": False,
                    "userType": True, "preferredLanguage": True}


@given(st.lists(st.tuples(st.sampled_from(["512", "514", "x"]), st.sampled_from(["A", "B", ""]),
                          st.sampled_from(["1", "2", "D"])), min_size=1, max_size=12))
def test_a_memoized_projection_equals_a_fresh_evaluation_of_every_rule(rows):
    mapping = compile_mapping(TargetConfig(name="app", mapping={"user": RULES}))
    ctx = ProjectionContext(clock=CLOCK, seed="s")
    for i, (uac, title, department) in enumerate(rows * 2):  # the second pass hits the memo
        obj = user(i % len(rows), uac, title, department)
        got = mapping.project(obj, ctx)
        fresh_values, fresh_errors = {}, []
        for rule in mapping.rules["user"]:
            try:
                fresh_values[rule.path] = rule.expr.evaluate(EvalContext(source=obj, clock=CLOCK, seed="s",
                                                                         attribute=rule.path))
            except Exception as exc:  # noqa: BLE001 - compared below
                fresh_errors.append(str(exc))
        assert [str(e) for e in got.errors] == fresh_errors
        if not fresh_errors:
            assert got.values["nickName"] == fresh_values["nickName"]  # per-object Guid, not memoized
            assert got.values["active"] is (int(uac) & 2 == 0)
            assert got.values["title"] == ("Alpha" if title == "A" else title)
        for err in got.errors:
            assert obj.dn in str(err)  # an error names its own object, never a memoized one


def test_the_memo_stays_bounded():
    from hybridsync.engine.mapping import projection as m

    rule = compile_mapping(TargetConfig(name="app", mapping={"user": {"title": 'ToUpper([title])'}})).rules["user"][0]
    ctx = ProjectionContext(clock=CLOCK)
    mapping = m.TargetMapping("app", {"user": (rule,)})
    for i in range(m.MEMO_SIZE + 50):
        obj = user(i, "512", f"t{i}", "1")
        assert mapping.project(obj, ctx).values["title"] == f"T{i}"
    assert len(rule.memo) == m.MEMO_SIZE
    assert parse("ToUpper([title])").depends_only_on_references()
    assert not parse("Join(\" \", [title], Guid())").depends_only_on_references()
