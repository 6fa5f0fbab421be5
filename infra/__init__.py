"""Adapters to the outside: configuration, SQL, Temporal client, the embedded dev stack."""
