"""engine.studios.regenerate.classical."""
