"""pytest plugin: session fixtures for a real Samba AD DC (filled in by the lab work)."""
