"""Active Directory source connector (ldap3): full, DirSync and USN reads, notification."""

from hybridsync.connectors.ad.source import AdSource

__all__ = ["AdSource"]
