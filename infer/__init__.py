"""The target-independent inference loop: batching, padding, timing, output files, summary.json."""
