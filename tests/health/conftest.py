"""The HTTP fixtures of tests/api (app, engine, settings), for tests that seed through the API."""

from tests.api.conftest import engine, settings  # noqa: F401
