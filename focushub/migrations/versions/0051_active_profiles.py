"""A deactivated account's profile is not there for others, and nobody new follows it.

Revision ID: 0051_active_profiles
Revises: 0050_session_end_notices

An administrator deactivates an account to take it off the platform (a spammer, an account
taken over). Its profile stayed public: name, bio (the spam links with it) and counts, in
the API and on its page, and anyone could still follow it. People search already left such
accounts out.

``profile_visible(user)`` (0028), which the profile, the follow state and people search ask,
now also requires the account to be active, except for administrators (who reactivate
it). The follow policy ``"Users can follow as themselves"`` asks it too, so a follow of a
deactivated account is refused in SQL; the API answers 404 as for the profile. What the
account wrote stays, under its name, as moderation leaves it; follows made before stay.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0051_active_profiles"
down_revision = "0050_session_end_notices"
branch_labels = None
depends_on = None

_PRIVACY = """(auth.uid() IS NOT NULL
            OR coalesce((SELECT profile_visibility FROM user_privacy WHERE user_id = p_user),
                        'everyone') = 'everyone')"""


def upgrade() -> None:
    run_sql(f"""
    CREATE OR REPLACE FUNCTION public.profile_visible(p_user uuid) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        SELECT {_PRIVACY}
           AND (EXISTS (SELECT 1 FROM users u WHERE u.id = p_user AND u.is_active)
                OR focushub_auth.is_admin())
    $$;
    ALTER POLICY "Users can follow as themselves" ON followers
        WITH CHECK (auth.uid() = follower_id AND public.profile_visible(following_id));
    """)


def downgrade() -> None:
    run_sql("""
    ALTER POLICY "Users can follow as themselves" ON followers
        WITH CHECK (auth.uid() = follower_id);
    CREATE OR REPLACE FUNCTION public.profile_visible(p_user uuid) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        SELECT auth.uid() IS NOT NULL
            OR coalesce((SELECT profile_visibility FROM user_privacy WHERE user_id = p_user),
                        'everyone') = 'everyone'
    $$;
    """)
