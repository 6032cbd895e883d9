"""Fleet runs: one command runs a matrix of cells as Ray tasks over every machine with the hardware."""
