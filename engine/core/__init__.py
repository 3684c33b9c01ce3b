"""Values, errors and the config model: the leaf every other layer imports."""
