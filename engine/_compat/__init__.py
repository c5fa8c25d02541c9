"""Shims for third-party packages that need help in some installs."""
