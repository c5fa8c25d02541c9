"""engine.studios.maskwear.classical."""
