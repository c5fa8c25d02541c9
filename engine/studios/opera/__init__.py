"""engine.studios.opera.classical."""
