"""Rate limits shared by every server process, kept in PostgreSQL.

Revision ID: 0024_rate_limits
Revises: 0023_notify_accept

``rate_limits (key, tat)``: one row per limited key (an address, an account, a
pair of both) holding its theoretical arrival time (GCRA, focushub/core/ratelimit.py).
UNLOGGED: it is not worth a WAL record per login attempt, and after a crash
every limit simply starts afresh. ``rate_limit_hit(key, limit, window_ms)``
admits a request (0) or returns the milliseconds until one would be admitted,
in one statement under the key's row lock, so concurrent requests from several
processes are counted exactly. Only ``service_role`` calls it (the server, before
it knows who the caller is); ``rate_limits_prune()`` deletes idle keys.
When Redis is configured the same algorithm runs there and this table stays empty.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0024_rate_limits"
down_revision = "0023_notify_accept"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    CREATE UNLOGGED TABLE public.rate_limits (
        key text PRIMARY KEY CONSTRAINT rate_limits_key_length CHECK (char_length(key) <= 400),
        tat timestamptz NOT NULL
    );
    COMMENT ON TABLE public.rate_limits IS
        'Rate limit state (GCRA theoretical arrival time per key); see rate_limit_hit().';
    ALTER TABLE public.rate_limits ENABLE ROW LEVEL SECURITY;
    REVOKE ALL ON public.rate_limits FROM PUBLIC, anon, authenticated, service_role;

    CREATE FUNCTION public.rate_limit_hit(p_key text, p_limit integer, p_window_ms bigint)
    RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        now_ts timestamptz := clock_timestamp();
        emission interval := make_interval(secs => p_window_ms / 1000.0 / p_limit);
        win interval := make_interval(secs => p_window_ms / 1000.0);
        stored timestamptz;
    BEGIN
        IF p_limit < 1 OR p_window_ms < 1 THEN
            RAISE EXCEPTION 'validation_error: a rate needs a positive count and window';
        END IF;
        INSERT INTO rate_limits AS r (key, tat) VALUES (p_key, now_ts + emission)
        ON CONFLICT (key) DO UPDATE SET tat = greatest(r.tat, now_ts) + emission
            WHERE greatest(r.tat, now_ts) + emission - win <= now_ts;
        IF FOUND THEN
            RETURN 0;
        END IF;
        -- Refused (the row is locked by the statement above): when will one fit?
        SELECT r.tat INTO stored FROM rate_limits r WHERE r.key = p_key;
        RETURN greatest(1, ceil(extract(epoch FROM stored + emission - win - now_ts) * 1000))::bigint;
    END
    $$;

    CREATE FUNCTION public.rate_limits_prune() RETURNS integer
    LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        WITH gone AS (DELETE FROM rate_limits WHERE tat < clock_timestamp() RETURNING 1)
        SELECT count(*)::integer FROM gone
    $$;

    REVOKE ALL ON FUNCTION public.rate_limit_hit(text, integer, bigint), public.rate_limits_prune()
        FROM PUBLIC, anon, authenticated, service_role;
    GRANT EXECUTE ON FUNCTION public.rate_limit_hit(text, integer, bigint), public.rate_limits_prune()
        TO service_role;
    """)


def downgrade() -> None:
    run_sql("""
    DROP FUNCTION public.rate_limits_prune();
    DROP FUNCTION public.rate_limit_hit(text, integer, bigint);
    DROP TABLE public.rate_limits;
    """)
