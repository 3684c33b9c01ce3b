"""Mapping-expression functions (text); registered into functions.FUNCTIONS on import."""
