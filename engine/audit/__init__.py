"""explain, snapshot and replay."""
