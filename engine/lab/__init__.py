"""Lab services: a real Samba AD DC and a real SCIM server on loopback."""
