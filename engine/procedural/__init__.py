"""Generators the project owns (samples, templates, synthetic data): no licence questions."""
