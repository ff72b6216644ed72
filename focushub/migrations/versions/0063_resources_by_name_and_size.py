"""Resources can be listed by name and by size, each with an index for its keyset.

Revision ID: 0063_resources_by_name_and_size
Revises: 0062_archived_rooms_read_only

The resource library listed the newest or the most downloaded first. People looking for a
file they know by name, or for the large ones taking their quota, want it by name (A to Z,
letter case ignored) and by size (largest first), as the product's earlier version offered.
``GET /resources?sort=name`` orders by ``(lower(title), id)`` and ``sort=size`` by
``(file_size DESC, id DESC)``; the public listing of each gets a partial index in that order
(``WHERE is_public``, like ``idx_resources_public_new`` and ``idx_resources_downloads``), so a
page is an index range read whatever the cursor, not a sort of every public resource.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0063_resources_by_name_and_size"
down_revision = "0062_archived_rooms_read_only"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
        CREATE INDEX idx_resources_public_name ON public.resources (lower(title), id)
            WHERE is_public;
        CREATE INDEX idx_resources_public_size ON public.resources (file_size DESC, id DESC)
            WHERE is_public;
    """)


def downgrade() -> None:
    run_sql("""
        DROP INDEX public.idx_resources_public_size;
        DROP INDEX public.idx_resources_public_name;
    """)
