"""The messages workflows, activities and clients exchange: plain frozen dataclasses and the
registered names of workflows, activities, signals, queries and updates.

A package of its own so that activities never import a workflow module: both sides, and the
command line, import these values from here. It imports only the pure core. (Workflows do
import the activity classes, passed through the sandbox and never run there, to call them by
reference with typed requests and results, as Temporal's samples do.)
"""
