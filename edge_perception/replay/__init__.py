"""Driving a node from a probe: the graph harness, node processes and parameter files,
replaying recordings, scoring outputs against ground truth and golden outputs, overload
soaks and the demo.
"""
