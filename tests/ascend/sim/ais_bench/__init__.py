"""Simulated ais_bench package (tests only); see infer/interface.py and __main__.py."""
