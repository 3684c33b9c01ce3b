"""The connector conformance kit, for built-in and third-party connectors."""
