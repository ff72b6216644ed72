"""Chat domain."""
