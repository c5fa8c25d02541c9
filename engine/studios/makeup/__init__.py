"""engine.studios.makeup.classical."""
