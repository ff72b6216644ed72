"""The embedded PostgreSQL supervisor: the development database (not request plumbing)."""

from focushub.devdb.supervisor import EmbeddedPostgres, EmbeddedUnavailable

__all__ = ["EmbeddedPostgres", "EmbeddedUnavailable"]
