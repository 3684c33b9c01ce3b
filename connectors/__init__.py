"""Source and target connectors (plugins under the ``hybridsync.connectors`` entry-point group)."""
