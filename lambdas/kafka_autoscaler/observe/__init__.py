"""Observe: read the world into a frozen Snapshot. One adapter module per backend."""
