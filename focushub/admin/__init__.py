"""The admin area: totals that are right, user management, and the audit log."""
