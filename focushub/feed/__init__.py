"""Feed domain."""
