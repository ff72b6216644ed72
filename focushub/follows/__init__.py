"""Follows domain."""
