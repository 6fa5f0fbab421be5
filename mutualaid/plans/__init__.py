"""The plan files that ship with the program (data, read by `infra.plans`)."""
