"""Text-only parsers for results produced outside the harness: trtexec logs and ais_bench outputs."""
