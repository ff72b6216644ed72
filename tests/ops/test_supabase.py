"""Focus Hub's migrations on a database prepared the way Supabase prepares one.

``deploy/supabase/check.py`` builds that database (Supabase's roles, an ``auth`` schema
owned by the auth service's role with its own ``uid()``, ``refresh_tokens`` and
``one_time_tokens``, a non-superuser migration role, Supabase's default privileges) and
runs the whole chain as the migration role. Here it must pass at the first attempt,
with no collision to work around, grant the API roles nothing a plain server would not,
and let Supabase's own ``auth.uid()`` read the claims Focus Hub sets.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.conftest import TestDatabase

CHECK = Path(__file__).parents[2] / "deploy" / "supabase" / "check.py"


def _load_check():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("supabase_check", CHECK)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


async def test_the_chain_applies_on_a_supabase_shaped_database(test_db: TestDatabase):
    check = _load_check()
    report = await check.check(test_db.server_url, first_only=True)

    assert report.collisions == [], [c.failure for c in report.collisions]
    assert report.passed and report.attempts == 1
    assert report.extra_effective == []
    assert report.missing_grants == []

    user = report.claims["user_id"]
    assert report.claims["authenticated"]["uid"] == user
    assert report.claims["authenticated again"]["uid"] == user
    for caller in ("anon", "service", "bare connection afterwards"):
        assert report.claims[caller]["uid"] is None, caller
    assert report.claims["anon"]["role"] == "anon"
    # Focus Hub refuses to serve as the migration role (it bypasses RLS) and accepts
    # a login role shaped like Supabase's authenticator.
    assert report.login_roles == {check.MIGRATION_ROLE: True, check.LOGIN_ROLE: False}
