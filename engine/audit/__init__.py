"""replay: re-runs recorded cycles through the Engine and compares every decision (explain and
snapshot are host-API values and live in runtime/)."""
