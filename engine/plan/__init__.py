"""The pure planner: plan, per-target planning, members, lifecycle, scope, match, merge."""
