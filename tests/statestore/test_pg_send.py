"""``send.combine`` / ``send.pack``: a flush's writes as one statement of data-modifying CTEs,
within psycopg's cache of parsed statement texts (no server needed)."""

from __future__ import annotations

from hybridsync.statestore.postgres.send import MAX_PARAMS, MAX_TEXT, combine, pack


def test_writes_become_ctes_of_the_last_and_parameters_keep_the_text_s_order():
    text, params = combine([("DELETE FROM a WHERE x = %s", [1]), ("INSERT INTO b (y) VALUES (%s)", [2]),
                            ("INSERT INTO c (z, w) SELECT * FROM unnest(%s, %s)", [3, 4])])
    assert text == ("WITH hs_w0 AS (DELETE FROM a WHERE x = %s), hs_w1 AS (INSERT INTO b (y) VALUES (%s)) "
                    "INSERT INTO c (z, w) SELECT * FROM unnest(%s, %s)")
    assert params == [1, 2, 3, 4]
    assert combine([("DELETE FROM a WHERE x = %s", [1])]) == ("DELETE FROM a WHERE x = %s", [1])


def test_a_write_with_its_own_with_list_hosts_the_others_ctes_first():
    host = "\nWITH v AS (SELECT * FROM unnest(%s)), up AS (INSERT INTO o SELECT * FROM v RETURNING 1) INSERT INTO h SELECT %s"
    text, params = combine([("DELETE FROM a WHERE x = %s", [1]), (host, [2, 3]), ("INSERT INTO b VALUES (%s)", [4])])
    assert text == ("WITH hs_w0 AS (DELETE FROM a WHERE x = %s), hs_w1 AS (INSERT INTO b VALUES (%s)), "
                    "v AS (SELECT * FROM unnest(%s)), up AS (INSERT INTO o SELECT * FROM v RETURNING 1) INSERT INTO h SELECT %s")
    assert params == [1, 4, 2, 3]


def test_runs_stay_within_the_parameter_and_length_limits_and_one_with_list_each():
    writes = [(f"INSERT INTO t{i} SELECT * FROM unnest({', '.join(['%s'] * 12)})", list(range(12))) for i in range(9)]
    runs = pack(writes)
    assert [len(r) for r in runs] == [4, 4, 1] and sum(runs, []) == writes
    for run in runs:
        text, params = combine(run)
        assert len(params) <= MAX_PARAMS and len(text) <= MAX_TEXT
    long = ("INSERT INTO big SELECT %s" + " " * MAX_TEXT, [0])
    assert pack([writes[0], long, writes[1]]) == [[writes[0]], [long], [writes[1]]]
    withs = [("WITH a AS (SELECT 1) INSERT INTO x SELECT %s", [1]), ("WITH b AS (SELECT 1) INSERT INTO y SELECT %s", [2])]
    assert pack(withs) == [[withs[0]], [withs[1]]]
