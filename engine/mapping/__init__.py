"""The expression language (grammar, functions) and attribute projection."""
