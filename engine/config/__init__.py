"""TOML loading and the config schema."""
