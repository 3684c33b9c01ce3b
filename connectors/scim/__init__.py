"""SCIM 2.0 target connector."""
