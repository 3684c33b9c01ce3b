"""The Entra-compatible expression functions: registry, coercion, text, logic, dates."""
