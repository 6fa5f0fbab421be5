"""Composition roots: the worker process(es) and the `mutualaid` command line."""
