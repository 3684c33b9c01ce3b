"""A hostile-server kit: a loopback HTTP/1.1 server that answers whatever it is told to, slowly,
partly or hugely, and Hypothesis strategies that generate such answers.

    from hybridsync.connectors.testing.hostile import Answer, HostileServer, answers

    with HostileServer(Answer(200, body=b"<html>")) as server:      # or a callable per request
        target = MyTarget(config_with(url=server.url))
        ...

``HostileContract`` (``contract.py``) runs any target connector against it with three invariants:
every call ends within the connector's deadline, nothing unproven is answered as done, and no
configured secret appears in any result or log line. A third-party connector gets it by
subclassing and providing a ``make_target(url)`` fixture.
"""

from hybridsync.connectors.testing.hostile.server import Answer, HostileServer, Seen
from hybridsync.connectors.testing.hostile.strategies import answers, garbage_2xx, hostile_bodies

__all__ = ["Answer", "HostileServer", "Seen", "answers", "garbage_2xx", "hostile_bodies"]
