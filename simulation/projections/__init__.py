"""Projection assumptions shipped with the program: one file per plan, and growth paths."""
