"""Alembic migrations: reviewed SQL, applied with :func:`focushub.migrations.runner.upgrade`."""
