"""The HTTP fixtures of tests/api, for the login check of seeded users."""

from tests.api.conftest import client, engine, settings  # noqa: F401
