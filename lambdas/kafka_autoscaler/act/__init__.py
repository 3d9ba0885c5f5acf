"""Act: carry out decisions through one adapter per target."""
