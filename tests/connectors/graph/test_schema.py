"""The shipped entity schema: where it comes from, and that it is what the fake checks against."""

from importlib import resources

from hybridsync.connectors.testing.graphfake import schema


def test_schema_records_its_source_repository_file_and_commit():
    src = schema.source()
    assert src["repository"] == "https://github.com/microsoftgraph/msgraph-metadata"
    assert src["file"] == "schemas/v1.0-Prod.csdl"
    assert len(src["commit"]) == 40


def test_licence_text_ships_next_to_the_schema():
    folder = resources.files("hybridsync.connectors.testing.graphfake")
    assert folder.joinpath("LICENSE-msgraph-metadata.txt").read_text().startswith("MIT License")


def test_user_group_orgcontact_and_their_complex_types_are_present():
    user = schema.properties("user")
    assert user["passwordProfile"].type == "graph.passwordProfile"
    assert user["id"].type == "Edm.String"  # inherited from entity through directoryObject
    assert {"forceChangePasswordNextSignIn", "password"} <= set(schema.properties("passwordProfile"))
    assert {"securityEnabled", "mailEnabled", "groupTypes"} <= set(schema.properties("group"))
    assert {"mail", "proxyAddresses"} <= set(schema.properties("orgContact"))


def test_required_and_read_only_tables_name_real_schema_properties():
    for entity, names in (("user", schema.USER_REQUIRED), ("group", schema.GROUP_REQUIRED),
                          ("user", schema.USER_READ_ONLY), ("group", schema.GROUP_READ_ONLY)):
        assert set(names) <= set(schema.properties(entity)), entity
