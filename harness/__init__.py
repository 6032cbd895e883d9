"""Shared pieces of the inference harness: errors, file contracts, timing statistics, tool runner."""
