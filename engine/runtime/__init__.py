"""The shell around the planner: Engine (host API), cycle, apply, target view, recording, metrics."""
