"""A stateful fake of Microsoft Graph v1.0 (users, groups, members, $batch, delta, deleted
items, throttling) on loopback, built from Microsoft's documentation -- not recorded from the
live service. See README.md in this folder for what it proves, what it does not, and the rule
table with the learn.microsoft.com page behind each rule.

    from hybridsync.connectors.testing.graphfake import GraphFake, Knobs

    with GraphFake(Knobs(replication_lag=2.0)) as fake:
        token = fake.token()                 # or POST fake.token_url with client credentials
        httpx.get(fake.graph_url + "/users", headers={"Authorization": f"Bearer {token}"})
        fake.backdoor.users()                # what the fake holds, bypassing Graph

Import cost: stdlib + attrs only.
"""

from hybridsync.connectors.testing.graphfake.server import GraphFake
from hybridsync.connectors.testing.graphfake.state import Knobs

__all__ = ["GraphFake", "Knobs"]
