"""Focus Hub: a social learning platform server on PostgreSQL with row-level security."""

__version__ = "0.1.0"
