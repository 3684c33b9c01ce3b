"""hybridsync: keep a cloud directory in step with on-premises Active Directory."""

__version__ = "0.1.0"
