"""The Entra-compatible expression functions: registry, coercion, text, logic, dates.

``registry`` holds the table (``FUNCTIONS``) and ``register``; ``text``, ``logic`` and ``dates``
register their functions into it when imported, and this package imports them, so importing
``hybridsync.engine.mapping.functions`` (or any module in it) yields the full table.
"""

from hybridsync.engine.mapping.functions import dates, logic, text
from hybridsync.engine.mapping.functions.registry import FUNCTIONS

__all__ = ["FUNCTIONS", "dates", "logic", "text"]
