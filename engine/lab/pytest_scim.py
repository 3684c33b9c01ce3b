"""pytest plugin: session fixtures for a real scim2-server (filled in by the SCIM work)."""
