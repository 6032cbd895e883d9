"""Output files + labels -> top-k accuracy in the ModelZoo result.json format, plus details."""
