"""Comments domain."""
