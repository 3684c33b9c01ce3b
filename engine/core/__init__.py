"""The leaf every other layer imports (and the only part of the engine that connectors and the
state store may): values, states, errors, DNs, frozen mappings and the config model."""
