"""The certflow benchmark: graduation day, measured end to end (`make bench`)."""
