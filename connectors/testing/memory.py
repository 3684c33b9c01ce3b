"""In-memory source and target implementing the connector protocols, deterministic.

For engine tests and benchmarks: ``MemorySource`` behaves like an AD source with DirSync-style
deltas (partial objects carrying only changed attributes, incremental member values, tombstones
without kind); ``MemoryTarget`` behaves like a SCIM service (externalId, userName uniqueness,
member sets by target id). Both have fault hooks so tests can make a read or a call fail.
They live in ``memory_source`` and ``memory_target``; this module is where tests import them
from. Nothing here is registered as an entry point; tests construct them and inject them.
"""

from __future__ import annotations

from hybridsync.connectors.base import Done, RetryAfter, Terminal
from hybridsync.connectors.testing.memory_source import GeneratedSource, MemorySource
from hybridsync.connectors.testing.memory_target import MemoryTarget

__all__ = ["Done", "GeneratedSource", "MemorySource", "MemoryTarget", "RetryAfter", "Terminal"]
