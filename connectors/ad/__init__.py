"""Active Directory source connector."""
