"""Microsoft Entra ID over Microsoft Graph v1.0 (``kind = "entra"``); see target.py."""

from hybridsync.connectors.entra.target import EntraTarget

__all__ = ["EntraTarget"]
