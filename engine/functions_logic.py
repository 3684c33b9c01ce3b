"""Mapping-expression functions (logic); registered into functions.FUNCTIONS on import."""
