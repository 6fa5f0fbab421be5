"""The program's rules as a pure core: no I/O, no clock, stdlib only.

Workflows, activities and the settlement engine all call into this package; it imports none
of them (a test keeps that true).
"""
