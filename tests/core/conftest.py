"""Fixtures of the core tests."""

from __future__ import annotations

import pytest

from focushub.core.pool import DirectPool


@pytest.fixture
async def one(test_db):
    """The direct path's pool with room for one connection: what one transaction leaves
    behind, the next one finds."""
    direct = DirectPool(test_db.app_url, size=1, timeout=5)
    yield direct
    await direct.close()
