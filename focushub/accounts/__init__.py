"""A person's own account as a whole: export everything, or delete it."""
