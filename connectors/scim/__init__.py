"""SCIM 2.0 target connector (``kind = "scim"``): prepare (pure) -> transport -> check (pure)."""

from hybridsync.connectors.scim.dialect import PROFILES, Dialect
from hybridsync.connectors.scim.target import ScimTarget

__all__ = ["PROFILES", "Dialect", "ScimTarget"]
