"""Vendor comparison reports (accuracy, throughput, parity tables and plots) from result files.

`python -m report --input DIR...` builds the report; `python -m report.compare` checks output parity.
"""
