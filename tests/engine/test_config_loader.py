"""load_config: good configs load into the frozen values; every bad one names file, key and problem."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hybridsync.engine import load_config
from hybridsync.engine.core.config import DEFAULT_USER_MAPPING, SCIM_ENTERPRISE, ScopeClause
from hybridsync.engine.config.loader import load_config_text
from hybridsync.engine.core.errors import ConfigError

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "config"
TOKEN_VAR = "HS_TEST_APP_TOKEN"
PASSWORD_VAR = "HS_TEST_CORP_PASSWORD"
SECRET = "Sup3r-S3cret-Value-42"

SOURCE = """name = "corp"
urls = ["ldaps://127.0.0.2:636"]
base_dn = "DC=lab,DC=test"
"""
TARGET = f"""name = "app"
url = "http://127.0.0.1:8100/scim/v2"
token_env = "{TOKEN_VAR}"
"""


def doc(source: str = SOURCE, target: str = TARGET, *, scope: str = "", after: str = "", top: str = "") -> str:
    """A config document: top-level tables, one [[source]] (+ scope), one [[target]] (+ after)."""
    return f"{top}\n[[source]]\n{source}\n{scope}\n[[target]]\n{target}\n{after}\n"


@pytest.fixture(autouse=True)
def secrets_in_env(monkeypatch):
    monkeypatch.setenv(TOKEN_VAR, SECRET)
    monkeypatch.setenv(PASSWORD_VAR, SECRET)


def problems_of(text: str, tmp_path: Path, **kw) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as info:
        load_config_text(text, base_dir=tmp_path, file="t.toml", **kw)
    assert all(p.file == "t.toml" for p in info.value.problems)
    return [(p.key, p.message) for p in info.value.problems]


def copy_samples(tmp_path: Path) -> Path:
    shutil.copytree(SAMPLES, tmp_path / "cfg")
    (tmp_path / "cfg" / "lab").mkdir()
    (tmp_path / "cfg" / "lab" / "ca.pem").write_text("not checked at load\n")
    (tmp_path / "cfg" / "lab" / "legacy.password").write_text(SECRET + "\n")
    return tmp_path / "cfg"


def test_the_interface_md_example_loads_with_its_secrets_set(tmp_path, monkeypatch):
    cfg = copy_samples(tmp_path)
    monkeypatch.setenv("HYBRIDSYNC_CORP_PASSWORD", SECRET)
    monkeypatch.setenv("HYBRIDSYNC_APP_TOKEN", SECRET)
    config = load_config(cfg / "interface-md-example.toml")
    (source,) = config.sources
    (target,) = config.targets
    assert source.name == "corp" and source.urls == ("ldaps://127.0.0.2:636",)
    assert source.ca_file == str(cfg / "lab" / "ca.pem")
    assert source.tls_server_name == "DC1.lab.test" and source.delta == "dirsync"
    assert source.scope.include_ous == ("OU=Staff,DC=lab,DC=test",)
    assert source.password() == SECRET
    assert target.kind == "scim" and target.auth == "bearer" and target.nested_groups == "nested"
    assert target.object_types == ("user", "group")
    assert target.token() == SECRET
    assert target.mapping["user"]["userName"] == "[userPrincipalName]"
    assert target.mapping["user"]["title"] == DEFAULT_USER_MAPPING["title"]  # defaults merged in
    assert config.safety.delete_threshold == 500 and config.safety.soft_delete_days == 30
    assert config.state.path == str(cfg / "hybridsync.db")
    assert config.path == str(cfg / "interface-md-example.toml")


def test_a_config_with_every_key_loads_into_the_matching_values(tmp_path, monkeypatch):
    cfg = copy_samples(tmp_path)
    monkeypatch.setenv("HYBRIDSYNC_CORP_PASSWORD", SECRET)
    monkeypatch.setenv("HYBRIDSYNC_APP_TOKEN", SECRET)
    monkeypatch.chdir(tmp_path)  # relative paths follow the config file, not the cwd
    config = load_config("cfg/every-key.toml")
    source, (app, legacy) = config.sources[0], config.targets
    assert config.state.path == str(cfg / "state" / "hybridsync.db")
    assert config.metrics.listen == "127.0.0.1:9464"
    assert config.safety.min_full_read_fraction == 0.8 and config.safety.quarantine_min_operations == 10
    assert config.safety.delete_threshold_window == 12 * 3600 and config.safety.delete_threshold_percent == 5
    assert config.safety.adopt == "approve"
    assert source.delta == "usn" and source.page_size == 500 and source.notify is False
    assert source.poll_interval == 2.5 and source.full_read_interval == 3600.0
    assert source.scope.object_types == ("user", "group")
    assert source.scope.filters == (
        (
            ScopeClause("department", "EQUALS", "Sales"),
            ScopeClause("employeeID", "REGEX MATCH", "^[0-9]{6}$"),
            ScopeClause("extensionAttribute1", "IS NOT NULL", None),
        ),
        (
            ScopeClause("company", "IS IN", "Contoso,Fabrikam"),
            ScopeClause("employeeNumber", "GREATER_THAN", "1000"),
        ),
    )
    user = app.mapping["user"]
    assert user["name.givenName"] == "[givenName]"  # dotted TOML key flattened back
    assert "title" not in user  # "" removed the default
    assert user[f"{SCIM_ENTERPRISE}:costCenter"] == "[extensionAttribute2]"
    assert user["displayName"] == "[displayName]"
    assert app.dialect == {"patch_members": True, "max_filter_results": 200, "etag": "weak"}
    assert app.nested_groups == "flatten" and app.rate_limit == 50.0 and app.member_chunk == 200
    assert legacy.auth == "basic" and legacy.username == "sync"
    assert legacy.password_file == str(cfg / "lab" / "legacy.password")
    assert legacy.password() == SECRET


BAD = [
    ("syntax", "[[source]\nname = 1", "(syntax)", "line 1"),
    ("unknown top key", doc(top="[sefety]\ndelete_threshold = 1"), "sefety", "did you mean 'safety'"),
    ("unknown source key", doc(SOURCE + 'url = "ldaps://x"'), "source[0].url", "did you mean 'urls'"),
    ("unknown scope key", doc(scope="[source.scope]\ninclude_ou = []"), "source[0].scope.include_ou",
     "did you mean 'include_ous'"),
    ("wrong type", doc(SOURCE + 'page_size = "100"'), "source[0].page_size", "expected an integer, got a string"),
    ("bool is not an int", doc(SOURCE + "page_size = true"), "source[0].page_size", "expected an integer"),
    ("tls_verify not bool", doc(SOURCE + 'tls_verify = "no"'), "source[0].tls_verify", "expected a boolean"),
    ("missing base_dn", doc('name = "corp"\nurls = ["ldaps://h"]'), "source[0].base_dn", "required key is missing"),
    ("missing target url", doc(target=f'name = "app"\ntoken_env = "{TOKEN_VAR}"'), "target[0].url", "required"),
    ("no source", f"[[target]]\n{TARGET}", "source", "required key is missing"),
    ("source as a table", f"[source]\n{SOURCE}\n[[target]]\n{TARGET}", "source", "write [[...]]"),
    ("duplicate source", doc(SOURCE + "\n[[source]]\n" + SOURCE), "source[1].name", "duplicate source name 'corp'"),
    ("duplicate target", doc(after="[[target]]\n" + TARGET), "target[1].name", "duplicate target name 'app'"),
    ("bad base_dn", doc(SOURCE.replace("DC=lab,DC=test", "DC=lab, DC=test")), "source[0].base_dn",
     "remove the spaces after the commas"),
    ("bad bind_dn", doc(SOURCE + f'bind_dn = "Administrator"\npassword_env = "{PASSWORD_VAR}"'),
     "source[0].bind_dn", "not a valid DN"),
    ("include_ou outside base", doc(scope='[source.scope]\ninclude_ous = ["OU=Staff,DC=other,DC=test"]'),
     "source[0].scope.include_ous[0]", "not under base_dn"),
    ("bad group DN", doc(scope='[source.scope]\ngroups = ["Cloud Users"]'), "source[0].scope.groups[0]",
     "not a valid DN"),
    ("http source url", doc(SOURCE.replace("ldaps://127.0.0.2:636", "http://dc1")), "source[0].urls[0]",
     "must start with ldaps:// or ldap://"),
    ("no host", doc(SOURCE.replace("ldaps://127.0.0.2:636", "ldaps://:636")), "source[0].urls[0]", "has no host"),
    ("bad port", doc(SOURCE.replace(":636", ":99999")), "source[0].urls[0]", "not a valid URL"),
    ("ldap url with path", doc(SOURCE.replace(":636", ":636/DC=lab")), "source[0].urls[0]", "must not have a path"),
    ("empty urls", doc(SOURCE.replace('["ldaps://127.0.0.2:636"]', "[]")), "source[0].urls", "at least one"),
    ("ftp target", doc(target=TARGET.replace("http://", "ftp://")), "target[0].url", "must start with https://"),
    ("delta", doc(SOURCE + 'delta = "poll"'), "source[0].delta", "must be one of dirsync, usn"),
    ("nested_groups", doc(target=TARGET + 'nested_groups = "deep"'), "target[0].nested_groups",
     "must be one of nested, flatten, omit"),
    ("auth", doc(target=TARGET + 'auth = "oauth"'), "target[0].auth", "must be one of bearer, basic, none"),
    ("object type", doc(target=TARGET + 'object_types = ["user", "printer"]'), "target[0].object_types[1]",
     "unknown object type 'printer'"),
    ("object type twice", doc(scope='[source.scope]\nobject_types = ["user", "user"]'),
     "source[0].scope.object_types[1]", "listed twice"),
    ("negative threshold", doc(top="[safety]\ndelete_threshold = -1"), "safety.delete_threshold", "must be >= 0"),
    ("page_size 0", doc(SOURCE + "page_size = 0"), "source[0].page_size", "must be >= 1 and <= 5000"),
    ("page_size huge", doc(SOURCE + "page_size = 6000"), "source[0].page_size", "<= 5000"),
    ("nan interval", doc(SOURCE + "poll_interval = nan"), "source[0].poll_interval", "not nan"),
    ("operator", doc(scope='[[source.scope.filters]]\nclauses = [{attribute = "a", operator = "LIKE", value = "x"}]'),
     "source[0].scope.filters[0].clauses[0].operator", "unknown operator 'LIKE'"),
    ("regex", doc(scope='[[source.scope.filters]]\nclauses = [{attribute = "a", operator = "REGEX MATCH", value = "(["}]'),
     "source[0].scope.filters[0].clauses[0].value", "does not compile"),
    ("no-value op", doc(scope='[[source.scope.filters]]\nclauses = [{attribute = "a", operator = "IS NULL", value = "x"}]'),
     "source[0].scope.filters[0].clauses[0].value", "IS NULL takes no value"),
    ("value missing", doc(scope='[[source.scope.filters]]\nclauses = [{attribute = "a", operator = "EQUALS"}]'),
     "source[0].scope.filters[0].clauses[0].value", "EQUALS needs a value"),
    ("integer op", doc(scope='[[source.scope.filters]]\nclauses = [{attribute = "a", operator = "LESS_THAN", value = "x"}]'),
     "source[0].scope.filters[0].clauses[0].value", "must be an integer"),
    ("clause attribute", doc(scope='[[source.scope.filters]]\nclauses = [{operator = "IS TRUE"}]'),
     "source[0].scope.filters[0].clauses[0].attribute", "required key is missing"),
    ("clauses shape", doc(scope='[[source.scope.filters]]\nclauses = "department = Sales"'),
     "source[0].scope.filters[0].clauses", "expected an array of inline tables"),
    ("literal password", doc(SOURCE + f'password = "{SECRET}"'), "source[0].password", "password_env"),
    ("literal token", doc(target=TARGET + f'token = "{SECRET}"'), "target[0].token", "token_env"),
    ("literal secret", doc(top=f'[state]\nsecret = "{SECRET}"'), "state.secret", "must not be written"),
    ("unset env", doc(SOURCE + 'bind_dn = "CN=a,DC=lab,DC=test"\npassword_env = "HS_TEST_NOT_SET"'),
     "source[0].password_env", "environment variable HS_TEST_NOT_SET is not set"),
    ("missing file", doc(target=TARGET.replace(f'token_env = "{TOKEN_VAR}"', 'token_file = "nope.token"')),
     "target[0].token_file", "file not found"),
    ("missing ca_file", doc(SOURCE + 'ca_file = "ca.pem"'), "source[0].ca_file", "file not found"),
    ("env and file", doc(target=TARGET + 'token_file = "t"'), "target[0].token_file", "set only one of"),
    ("unknown kind", doc(SOURCE + 'kind = "ldap"'), "source[0].kind", "unknown connector kind 'ldap'; installed: ad"),
    ("role", doc(SOURCE + 'kind = "scim"'), "source[0].kind", "'scim' is a target connector"),
    ("bad name", doc(SOURCE.replace('"corp"', '"my corp"')), "source[0].name", "must start with a letter"),
    ("bind_dn alone", doc(SOURCE + 'bind_dn = "CN=a,DC=lab,DC=test"'), "source[0].bind_dn", "needs password_env"),
    ("basic without username", doc(target=TARGET.replace(f'token_env = "{TOKEN_VAR}"',
     f'auth = "basic"\npassword_env = "{PASSWORD_VAR}"')), "target[0].username", "needs username"),
    ("bearer without token", doc(target='name = "app"\nurl = "http://127.0.0.1/"'), "target[0].token_env",
     "needs token_env or token_file"),
    ("token with auth none", doc(target=TARGET + 'auth = "none"'), "target[0].auth", "a token is set"),
    ("mapping kind", doc(after='[target.mapping.printer]\nx = "[y]"'), "target[0].mapping.printer", "unknown key"),
    ("mapping value", doc(after="[target.mapping.user]\ndisplayName = 5"), "target[0].mapping.user.displayName",
     "expected an expression string, got an integer"),
    ("mapping path", doc(after='[target.mapping.user]\n"bad path!" = "[cn]"'), 'target[0].mapping.user.bad path!',
     "not a target attribute path"),
    ("matching unmapped", doc(target=TARGET + 'matching = ["nickName"]'), "target[0].matching[0]",
     "not a mapped user attribute"),
    ("dialect float", doc(after="[target.dialect]\nratio = 0.5"), "target[0].dialect.ratio",
     "expected a boolean, integer or string, got a float"),
    ("max_in_flight", doc(target=TARGET + "max_in_flight = 0"), "target[0].max_in_flight", ">= 1"),
    ("rate_limit", doc(target=TARGET + "rate_limit = 0"), "target[0].rate_limit", "must be > 0"),
    ("listen", doc(top='[metrics]\nlisten = "9464"'), "metrics.listen", "host:port"),
    ("huge integer", doc(target=TARGET + "rate_limit = 1" + "0" * 400), "target[0].rate_limit", "<= 1e+06"),
    ("ratio", doc(top="[safety]\nquarantine_failure_ratio = 1.5"), "safety.quarantine_failure_ratio", "<= 1"),
    # issue 14, finding 8: every range has a maximum (inf crashed the hourly grace scan)
    ("soft_delete_days inf", doc(top="[safety]\nsoft_delete_days = inf"), "safety.soft_delete_days", "<= 36500"),
    ("soft_delete_days huge", doc(top="[safety]\nsoft_delete_days = 740000"), "safety.soft_delete_days", "<= 36500"),
    ("delete_threshold huge", doc(top="[safety]\ndelete_threshold = 100000000000"), "safety.delete_threshold",
     "<= 1e+07"),
    ("full_read_interval inf", doc(SOURCE + "full_read_interval = inf"), "source[0].full_read_interval", "<="),
    ("rate_limit inf", doc(target=TARGET + "rate_limit = inf"), "target[0].rate_limit", "<="),
    ("date", doc(top="[state]\npath = 2024-01-01"), "state.path", "expected a string, got a date/time"),
    # issue 14: the threshold's percentage of owned objects, and adoption approval
    ("percent 0", doc(top="[safety]\ndelete_threshold_percent = 0"), "safety.delete_threshold_percent", "> 0"),
    ("percent > 100", doc(top="[safety]\ndelete_threshold_percent = 150"), "safety.delete_threshold_percent",
     "<= 100"),
    ("percent text", doc(top='[safety]\ndelete_threshold_percent = "5%"'), "safety.delete_threshold_percent",
     "expected"),
    ("adopt", doc(top='[matching]\nadopt = "ask"'), "matching.adopt", "must be one of auto, approve"),
]


@pytest.mark.parametrize("text,key,message", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_a_bad_config_names_the_key_and_the_problem(tmp_path, text, key, message):
    problems = problems_of(text, tmp_path)
    assert any(k == key and message in m for k, m in problems), problems


def test_every_problem_in_a_file_is_reported_together(tmp_path):
    text = doc(
        SOURCE + 'delta = "poll"\npage_size = "x"\nurl = "ldaps://h"',
        TARGET.replace("http://", "ftp://") + 'nested_groups = "deep"',
        scope='[source.scope]\ninclude_ous = ["OU=X,DC=elsewhere"]',
        top="[safety]\ndelete_threshold = -5",
    )
    keys = {k for k, _ in problems_of(text, tmp_path)}
    assert keys == {
        "source[0].delta",
        "source[0].page_size",
        "source[0].url",
        "source[0].scope.include_ous[0]",
        "target[0].url",
        "target[0].nested_groups",
        "safety.delete_threshold",
    }


def test_a_secret_written_into_the_config_never_appears_in_the_error(tmp_path):
    text = doc(
        SOURCE + f'password = "{SECRET}"\npasword = "{SECRET}"\nbind_dn = "{SECRET}"',
        TARGET.replace(f'token_env = "{TOKEN_VAR}"', f'token_env = "{SECRET}!"') + f'client_secret = "{SECRET}"',
        top=f'[state]\ntoken = "{SECRET}"',
    )
    with pytest.raises(ConfigError) as info:
        load_config_text(text, base_dir=tmp_path, file="t.toml")
    keys = {p.key for p in info.value.problems}
    assert {"source[0].password", "source[0].pasword", "target[0].token_env", "target[0].client_secret",
            "state.token"} <= keys
    for rendered in (str(info.value), repr(info.value), repr(info.value.problems)):
        assert "S3cret" not in rendered


def test_the_loaded_config_holds_no_secret_value(tmp_path):
    (tmp_path / "pw").write_text(SECRET)
    text = doc(
        SOURCE + 'bind_dn = "CN=a,DC=lab,DC=test"\npassword_file = "pw"',
        TARGET,
        after=f'[[target]]\nname = "b"\nurl = "https://h/scim"\nauth = "basic"\nusername = "u"\npassword_env = "{PASSWORD_VAR}"',
    )
    config = load_config_text(text, base_dir=tmp_path, file="t.toml")
    assert config.sources[0].password() == SECRET and config.targets[0].token() == SECRET
    assert sorted(config.secret_values()) == [SECRET] * 3
    for rendered in (repr(config), str(config), repr(config.sources[0]), repr(config.targets)):
        assert SECRET not in rendered
        assert "password_file" not in rendered and "token_env" not in rendered  # repr=False fields


def test_secrets_are_not_required_when_loading_for_status(tmp_path):
    text = doc(SOURCE + 'bind_dn = "CN=a,DC=lab,DC=test"\npassword_env = "HS_TEST_NOT_SET"\nca_file = "ca.pem"')
    with pytest.raises(ConfigError):
        load_config_text(text, base_dir=tmp_path, file="t.toml")
    config = load_config_text(text, base_dir=tmp_path, file="t.toml", check_secrets=False)
    assert config.sources[0].password_env == "HS_TEST_NOT_SET"
    assert config.sources[0].ca_file == str(tmp_path / "ca.pem")
    with pytest.raises(ConfigError) as info:  # reading it at the moment of use still fails clearly
        config.sources[0].password()
    assert "HS_TEST_NOT_SET is not set" in str(info.value)


def test_relative_paths_follow_the_config_file_and_absolute_ones_stay(tmp_path, monkeypatch):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "ca.pem").write_text("x")
    (tmp_path / "conf" / "hybridsync.toml").write_text(
        doc(SOURCE + 'ca_file = "ca.pem"', top=f'[state]\npath = "{tmp_path}/db/state.db"')
    )
    monkeypatch.chdir("/")
    config = load_config(tmp_path / "conf" / "hybridsync.toml")
    assert config.sources[0].ca_file == str(tmp_path / "conf" / "ca.pem")
    assert config.state.path == f"{tmp_path}/db/state.db"


def test_a_missing_file_is_a_config_error_naming_it(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.toml")
    (problem,) = info.value.problems
    assert problem.file == str(tmp_path / "nope.toml") and "not found" in problem.message


def test_an_empty_expression_drops_a_default_and_other_kinds_keep_theirs(tmp_path):
    text = doc(after='[target.mapping.user]\ntitle = ""\nnickName = "[sAMAccountName]"\n[target.mapping.group]\ndisplayName = ""')
    mapping = load_config_text(text, base_dir=tmp_path).targets[0].mapping
    assert "title" not in mapping["user"] and mapping["user"]["nickName"] == "[sAMAccountName]"
    assert mapping["group"] == {}
    assert mapping["contact"]["userType"] == '"Contact"'


def test_the_config_remembers_the_file_it_came_from(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "hs.toml").write_text(doc())
    monkeypatch.chdir(tmp_path)
    assert load_config("a/hs.toml").path == str(tmp_path / "a" / "hs.toml")
    assert load_config_text(doc(), base_dir=tmp_path / "a", file="hs.toml").path == str(tmp_path / "a" / "hs.toml")
    assert load_config_text(doc(), base_dir=tmp_path).path is None


def test_the_default_kinds_must_be_installed_connectors_too(tmp_path, monkeypatch):
    import hybridsync.engine.core.config as model

    monkeypatch.setattr(model, "available_kinds", lambda: {"entra": object()})
    problems = problems_of(doc(), tmp_path)
    assert ("source[0].kind", "unknown connector kind 'ad'; installed: entra") in problems
    assert ("target[0].kind", "unknown connector kind 'scim'; installed: entra") in problems
