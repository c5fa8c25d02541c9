"""engine.weights."""
