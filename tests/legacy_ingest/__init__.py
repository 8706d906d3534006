"""The row-by-row ingest as it was before the set-based path (frozen copy, commit da7fc0b).

Only tests/test_ingest_paths.py uses it: it loads the same seasons through this reference and
through traceability/ingest.py and compares every table, so a faster path cannot quietly change
what is loaded, parked or rejected. Do not edit it to follow the product code; it is the oracle.
"""
