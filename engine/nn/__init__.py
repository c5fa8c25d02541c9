"""Shared neural-network blocks (pure torch, no compiled extensions)."""
