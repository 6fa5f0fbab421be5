"""Load tests: generate work against the program's workflows and report what it sustained."""
