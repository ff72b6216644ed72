"""A refresh token spent a moment ago by another request of its client is not a theft.

Revision ID: 0052_refresh_race_grace
Revises: 0051_active_profiles

``rotate_session()`` (0004, 0032) revokes a token's whole family when a spent token is
presented again: theft detection. A browser whose access token has expired sends its
requests (a page and the header's badge, two tabs) with the same refresh cookie before the
first answer's new cookies arrive; the second rotation found the token spent and ended the
session the first had just renewed. The web app shares one rotation between such requests
within a process; requests spread over several server processes still raced.

Now a token spent less than 10 seconds ago answers ``raced``: nothing is revoked or
logged, no new token is made, and the API answers 401 ``token_raced`` (use the newest
token); the web app keeps its cookies, which the first answer replaced. A token spent
earlier still ends its family (``reused``). The price: a stolen token presented within those
10 seconds is refused without ending the session.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0052_refresh_race_grace"
down_revision = "0051_active_profiles"
branch_labels = None
depends_on = None

# rotate_session() as 0032 wrote it, and the branch this adds before its reuse detection.
_ROTATE = """
CREATE OR REPLACE FUNCTION focushub_auth.rotate_session(p_token_hash bytea, p_new_hash bytea, p_expires_at timestamp with time zone)
 RETURNS TABLE(status text, user_id uuid, family_id uuid, email text, app_role user_role)
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
    DECLARE
        tok focushub_auth.refresh_tokens;
        usr public.users;
    BEGIN
        SELECT * INTO tok FROM focushub_auth.refresh_tokens t WHERE t.token_hash = p_token_hash FOR UPDATE;
        IF NOT FOUND OR tok.revoked_at IS NOT NULL THEN
            RETURN QUERY SELECT 'invalid'::text, NULL::uuid, NULL::uuid, NULL::text, NULL::public.user_role;
            RETURN;
        END IF;
{grace}        IF tok.spent_at IS NOT NULL THEN
            UPDATE focushub_auth.refresh_tokens SET revoked_at = now()
            WHERE focushub_auth.refresh_tokens.family_id = tok.family_id AND revoked_at IS NULL;
            INSERT INTO public.audit_log (action, target_type, target_id, details)
            VALUES ('security.refresh_token_reused', 'user', tok.user_id,
                    jsonb_build_object('family_id', tok.family_id));
            RETURN QUERY SELECT 'reused'::text, tok.user_id, tok.family_id, NULL::text, NULL::public.user_role;
            RETURN;
        END IF;
        IF tok.expires_at <= now() THEN
            RETURN QUERY SELECT 'expired'::text, tok.user_id, tok.family_id, NULL::text, NULL::public.user_role;
            RETURN;
        END IF;
        SELECT * INTO usr FROM public.users u WHERE u.id = tok.user_id;
        IF NOT (usr.is_active AND (usr.suspended_until IS NULL OR usr.suspended_until <= now())) THEN
            UPDATE focushub_auth.refresh_tokens SET revoked_at = now()
            WHERE focushub_auth.refresh_tokens.family_id = tok.family_id AND revoked_at IS NULL;
            RETURN QUERY SELECT 'inactive'::text, tok.user_id, tok.family_id, NULL::text, NULL::public.user_role;
            RETURN;
        END IF;
        UPDATE focushub_auth.refresh_tokens SET spent_at = now() WHERE id = tok.id;
        INSERT INTO focushub_auth.refresh_tokens (user_id, family_id, token_hash, expires_at)
        VALUES (tok.user_id, tok.family_id, p_new_hash, p_expires_at);
        RETURN QUERY SELECT 'ok'::text, usr.id, tok.family_id, usr.email::text, usr.role;
    END $function$;
"""
_GRACE = """        IF tok.spent_at > now() - interval '10 seconds' THEN
            -- Spent moments ago by another request of the same client (a page and its
            -- badge, two tabs, two server processes): not a theft, nothing revoked.
            RETURN QUERY SELECT 'raced'::text, tok.user_id, tok.family_id, NULL::text, NULL::public.user_role;
            RETURN;
        END IF;
"""


def upgrade() -> None:
    run_sql(_ROTATE.format(grace=_GRACE))


def downgrade() -> None:
    run_sql(_ROTATE.format(grace=""))
