"""Privacy settings that are enforced, and changing one's password or email.

Revision ID: 0028_privacy_and_credentials
Revises: 0027_likes_only

* ``user_privacy (user_id, profile_visibility, show_email, dm_from)``: one row per
  person who changed a default (no row: everyone sees the profile, the email is
  hidden, anyone may start a chat). Owner-only RLS. Enforced where the data is read:
  - ``profile_visible(user)``: a profile set to ``signed_in`` is not there for anonymous
    callers (the profile and people search ask it);
  - ``shown_email(user)``: the email, only when its owner chose to show it (request
    roles have no privilege on ``users.email`` at all);
  - ``chat_room_participants_require_consent`` (BEFORE INSERT): nobody may open a direct
    chat with, or add to a group, someone whose ``dm_from`` is ``following`` and who does
    not follow them (403 ``forbidden``), whatever path inserts the membership.
* ``change_password(new_hash, keep_family)``: the caller's own password (the server has
  checked the current one), every other session ended.
* ``change_email(email)``: the caller's own email, which becomes unconfirmed.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0028_privacy_and_credentials"
down_revision = "0027_likes_only"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    CREATE TABLE public.user_privacy (
        user_id uuid PRIMARY KEY REFERENCES public.users(id) ON DELETE CASCADE,
        profile_visibility text NOT NULL DEFAULT 'everyone'
            CONSTRAINT user_privacy_profile_visibility_check
            CHECK (profile_visibility IN ('everyone', 'signed_in')),
        show_email boolean NOT NULL DEFAULT false,
        dm_from text NOT NULL DEFAULT 'everyone'
            CONSTRAINT user_privacy_dm_from_check CHECK (dm_from IN ('everyone', 'following')),
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    ALTER TABLE public.user_privacy ENABLE ROW LEVEL SECURITY;
    REVOKE ALL ON public.user_privacy FROM PUBLIC, anon, authenticated, service_role;
    GRANT SELECT ON public.user_privacy TO authenticated;
    GRANT INSERT (user_id, profile_visibility, show_email, dm_from) ON public.user_privacy
        TO authenticated;
    GRANT UPDATE (profile_visibility, show_email, dm_from, updated_at) ON public.user_privacy
        TO authenticated;
    CREATE POLICY "Users see their own privacy settings" ON public.user_privacy
        FOR SELECT TO authenticated USING (user_id = (SELECT auth.uid()));
    CREATE POLICY "Users create their own privacy settings" ON public.user_privacy
        FOR INSERT TO authenticated WITH CHECK (user_id = (SELECT auth.uid()));
    CREATE POLICY "Users change their own privacy settings" ON public.user_privacy
        FOR UPDATE TO authenticated USING (user_id = (SELECT auth.uid()))
        WITH CHECK (user_id = (SELECT auth.uid()));

    CREATE FUNCTION public.profile_visible(p_user uuid) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        SELECT auth.uid() IS NOT NULL
            OR coalesce((SELECT profile_visibility FROM user_privacy WHERE user_id = p_user),
                        'everyone') = 'everyone'
    $$;

    CREATE FUNCTION public.shown_email(p_user uuid) RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        SELECT u.email::text FROM users u JOIN user_privacy p ON p.user_id = u.id
        WHERE u.id = p_user AND p.show_email AND public.profile_visible(p_user)
    $$;

    CREATE FUNCTION public.require_chat_consent() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        actor uuid := auth.uid();
    BEGIN
        IF actor IS NULL OR NEW.user_id = actor THEN
            RETURN NEW;
        END IF;
        IF EXISTS (SELECT 1 FROM user_privacy p WHERE p.user_id = NEW.user_id
                   AND p.dm_from = 'following')
           AND NOT EXISTS (SELECT 1 FROM followers f WHERE f.follower_id = NEW.user_id
                           AND f.following_id = actor) THEN
            RAISE EXCEPTION 'forbidden: this person accepts chats only from people they follow';
        END IF;
        RETURN NEW;
    END
    $$;
    CREATE TRIGGER chat_room_participants_require_consent
        BEFORE INSERT ON public.chat_room_participants
        FOR EACH ROW EXECUTE FUNCTION public.require_chat_consent();

    CREATE FUNCTION public.change_password(p_password_hash text, p_keep_family uuid)
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        IF auth.uid() IS NULL THEN
            RAISE EXCEPTION 'forbidden: sign in to change your password';
        END IF;
        UPDATE focushub_auth.credentials SET password_hash = p_password_hash, updated_at = now()
        WHERE user_id = auth.uid();
        UPDATE focushub_auth.refresh_tokens SET revoked_at = now()
        WHERE user_id = auth.uid() AND revoked_at IS NULL
          AND family_id IS DISTINCT FROM p_keep_family;
    END
    $$;

    CREATE FUNCTION public.change_email(p_email text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        IF auth.uid() IS NULL THEN
            RAISE EXCEPTION 'forbidden: sign in to change your email';
        END IF;
        UPDATE users SET email = lower(p_email), is_verified = false
        WHERE id = auth.uid() AND lower(email) <> lower(p_email);
    END
    $$;

    REVOKE ALL ON FUNCTION public.profile_visible(uuid), public.shown_email(uuid),
        public.require_chat_consent(), public.change_password(text, uuid),
        public.change_email(text)
        FROM PUBLIC, anon, authenticated, service_role;
    GRANT EXECUTE ON FUNCTION public.profile_visible(uuid), public.shown_email(uuid)
        TO anon, authenticated;
    GRANT EXECUTE ON FUNCTION public.change_password(text, uuid), public.change_email(text)
        TO authenticated;
    """)


def downgrade() -> None:
    run_sql("""
    DROP FUNCTION public.change_email(text);
    DROP FUNCTION public.change_password(text, uuid);
    DROP TRIGGER chat_room_participants_require_consent ON public.chat_room_participants;
    DROP FUNCTION public.require_chat_consent();
    DROP FUNCTION public.shown_email(uuid);
    DROP FUNCTION public.profile_visible(uuid);
    DROP TABLE public.user_privacy;
    """)
