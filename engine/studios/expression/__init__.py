"""engine.studios.expression.classical."""
