"""The messages workflows, activities and clients exchange: plain frozen dataclasses and the
registered names of workflows, activities, signals, queries and updates.

A package of its own so that activities never import a workflow module and workflows never
import an activity's I/O: both sides, and the command line, import these values from here.
It imports only the pure core.
"""
