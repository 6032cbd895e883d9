"""Simulated ais_bench.infer (tests only)."""
