"""No request role touches the migration bookkeeping or the audit log's sequence.

Revision ID: 0030_bookkeeping_privileges
Revises: 0029_spam_signals

Where default privileges grant new objects to ``anon``, ``authenticated`` and
``service_role`` (a Supabase project does), ``alembic_version`` came out readable and
writable by them without row-level security — anyone holding the public API key could
have read or rewritten the schema revision — and ``audit_log_id_seq`` usable by them.
Both are revoked here, and ``alembic_version`` gets row-level security with no policy.
On a server without such default privileges nothing changes but the RLS flag.
(Found by ``deploy/supabase/check.py``; see docs/supabase.md.)
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0030_bookkeeping_privileges"
down_revision = "0029_spam_signals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    REVOKE ALL ON public.alembic_version FROM PUBLIC, anon, authenticated, service_role;
    ALTER TABLE public.alembic_version ENABLE ROW LEVEL SECURITY;
    REVOKE ALL ON SEQUENCE public.audit_log_id_seq FROM PUBLIC, anon, authenticated, service_role;
    """)


def downgrade() -> None:
    run_sql("ALTER TABLE public.alembic_version DISABLE ROW LEVEL SECURITY;")
