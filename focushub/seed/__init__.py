"""Reproducible data at scale for benchmarks and demos: ``focushub seed --scale N``.

:mod:`focushub.seed.generate` builds the rows (power-law activity, popular items
attract most comments and votes, a few hundred tags, realistic text lengths) in
bounded chunks, and :mod:`focushub.seed.load` COPYs them in as they are made, as
the schema owner, with every counter already equal to its recount. Every seeded user logs in with
:data:`focushub.seed.load.SEED_PASSWORD`.
"""

from focushub.seed.load import (
    SEED_PASSWORD,
    SeedError,
    SeedReport,
    recount_mismatches,
    seed_database,
)

__all__ = ["SEED_PASSWORD", "SeedError", "SeedReport", "recount_mismatches", "seed_database"]
