"""Record: what later ticks need, and the stores that keep it."""
