"""Password hashing: argon2id at the configured cost, verified at the cost it was made with."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from focushub.core.security import Passwords
from focushub.core.settings import Settings


def test_the_default_cost_is_rfc_9106s_second_profile() -> None:
    # Built without the environment, whose cheap profile the test suite sets (conftest).
    fields = Settings.model_fields
    stored = Passwords(time_cost=fields["password_time_cost"].default,
                       memory_kib=fields["password_memory_kib"].default,
                       parallelism=fields["password_parallelism"].default).hash("a long passphrase")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert Passwords().hash("x").startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_a_hash_made_at_another_cost_still_verifies() -> None:
    old = PasswordHasher(time_cost=2, memory_cost=1024, parallelism=2).hash("correct horse")
    cheap = Passwords(time_cost=1, memory_kib=64, parallelism=1)
    assert cheap.hash("correct horse").startswith("$argon2id$v=19$m=64,t=1,p=1$")
    assert cheap.verify(old, "correct horse")
    assert not cheap.verify(old, "wrong horse")


def test_an_unknown_account_is_checked_against_a_hash_and_never_matches() -> None:
    passwords = Passwords(time_cost=1, memory_kib=64, parallelism=1)
    assert not passwords.verify(None, "")
    assert not passwords.verify(None, "anything")
    assert not passwords.verify("not a hash", "anything")


@pytest.mark.parametrize(("time_cost", "memory_kib", "refused"), [
    (3, 65536, False), (2, 19456, False), (1, 65536, True), (3, 16384, True),
])
def test_production_refuses_a_cost_below_owasps_lowest(time_cost: int, memory_kib: int,
                                                        refused: bool) -> None:
    settings = Settings(env="production", database_url="postgresql://db/focushub",
                        jwt_secret="s" * 40, password_time_cost=time_cost,
                        password_memory_kib=memory_kib)
    problems = [p for p in settings.check_production() if "PASSWORD" in p]
    assert bool(problems) is refused, problems
