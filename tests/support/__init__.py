"""Reusable helpers for tests of several packages (a real hub in-process, ...)."""
