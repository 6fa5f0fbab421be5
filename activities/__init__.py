"""Temporal activities: thin adapters that load, call the core, persist and map errors."""
