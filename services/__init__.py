"""The four certflow services, each its own process."""
