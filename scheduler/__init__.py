"""The running Liaison service: clock, settings, wiring, jobs, CLI and web."""
