"""Block and mute, enforced by the database.

Revision ID: 0025_blocks_mutes
Revises: 0024_rate_limits

* ``user_blocks (blocker_id, blocked_id)``: private to the blocker (the blocked person
  can read no row of it, so is never told). Between two people with a block either
  way:
  - neither sees the other's posts, comments, questions, answers or resources (one
    RESTRICTIVE SELECT policy per table, over ``block_wall()``, the ids in a block
    relation with the caller, computed once per statement);
  - the blocked person cannot follow, comment on the blocker's posts, open or write
    in a direct chat with them, or add them to a room (BEFORE INSERT triggers raise
    ``not_found``, so the API answers 404, as for someone who does not exist);
  - no notification passes from one to the other (a BEFORE INSERT trigger on
    ``notifications`` drops it), and blocking removes follows both ways.
* ``user_mutes (muter_id, muted_id)``: no notifications from the muted person, and
  their chat messages do not count as unread; their content stays reachable.
* ``room_mutes (user_id, room_id)``: the room's messages do not count as unread.
Chat messages in group rooms are not hidden: a room's messages are numbered without
gaps for everyone in it.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0025_blocks_mutes"
down_revision = "0024_rate_limits"
branch_labels = None
depends_on = None

_CONTENT = ("posts", "comments", "questions", "answers", "resources")


def upgrade() -> None:
    policies = "\n".join(f"""
    CREATE POLICY "No {t} across a block" ON public.{t} AS RESTRICTIVE FOR SELECT
        USING (author_id <> ALL ((SELECT public.block_wall())::uuid[]));""" for t in _CONTENT)
    run_sql(f"""
    CREATE TABLE public.user_blocks (
        blocker_id uuid NOT NULL REFERENCES public.users(id) ON DELETE CASCADE,
        blocked_id uuid NOT NULL REFERENCES public.users(id) ON DELETE CASCADE,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (blocker_id, blocked_id),
        CONSTRAINT user_blocks_not_self CHECK (blocker_id <> blocked_id)
    );
    CREATE INDEX idx_user_blocks_blocked ON public.user_blocks (blocked_id, blocker_id);
    CREATE TABLE public.user_mutes (
        muter_id uuid NOT NULL REFERENCES public.users(id) ON DELETE CASCADE,
        muted_id uuid NOT NULL REFERENCES public.users(id) ON DELETE CASCADE,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (muter_id, muted_id),
        CONSTRAINT user_mutes_not_self CHECK (muter_id <> muted_id)
    );
    CREATE INDEX idx_user_mutes_muted ON public.user_mutes (muted_id);
    CREATE TABLE public.room_mutes (
        user_id uuid NOT NULL REFERENCES public.users(id) ON DELETE CASCADE,
        room_id uuid NOT NULL REFERENCES public.chat_rooms(id) ON DELETE CASCADE,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (user_id, room_id)
    );
    CREATE INDEX idx_room_mutes_room ON public.room_mutes (room_id);

    ALTER TABLE public.user_blocks ENABLE ROW LEVEL SECURITY;
    ALTER TABLE public.user_mutes ENABLE ROW LEVEL SECURITY;
    ALTER TABLE public.room_mutes ENABLE ROW LEVEL SECURITY;
    REVOKE ALL ON public.user_blocks, public.user_mutes, public.room_mutes
        FROM PUBLIC, anon, authenticated, service_role;
    GRANT SELECT, DELETE ON public.user_blocks, public.user_mutes, public.room_mutes
        TO authenticated;
    GRANT INSERT (blocker_id, blocked_id) ON public.user_blocks TO authenticated;
    GRANT INSERT (muter_id, muted_id) ON public.user_mutes TO authenticated;
    GRANT INSERT (user_id, room_id) ON public.room_mutes TO authenticated;
    CREATE POLICY "Users see their own blocks" ON public.user_blocks
        FOR SELECT TO authenticated USING (blocker_id = (SELECT auth.uid()));
    CREATE POLICY "Users block as themselves" ON public.user_blocks
        FOR INSERT TO authenticated WITH CHECK (blocker_id = (SELECT auth.uid()));
    CREATE POLICY "Users unblock" ON public.user_blocks
        FOR DELETE TO authenticated USING (blocker_id = (SELECT auth.uid()));
    CREATE POLICY "Users see their own mutes" ON public.user_mutes
        FOR SELECT TO authenticated USING (muter_id = (SELECT auth.uid()));
    CREATE POLICY "Users mute as themselves" ON public.user_mutes
        FOR INSERT TO authenticated WITH CHECK (muter_id = (SELECT auth.uid()));
    CREATE POLICY "Users unmute" ON public.user_mutes
        FOR DELETE TO authenticated USING (muter_id = (SELECT auth.uid()));
    CREATE POLICY "Users see their own room mutes" ON public.room_mutes
        FOR SELECT TO authenticated USING (user_id = (SELECT auth.uid()));
    CREATE POLICY "Participants mute their rooms" ON public.room_mutes
        FOR INSERT TO authenticated
        WITH CHECK (user_id = (SELECT auth.uid()) AND public.is_room_member(room_id));
    CREATE POLICY "Users unmute rooms" ON public.room_mutes
        FOR DELETE TO authenticated USING (user_id = (SELECT auth.uid()));

    -- Whether either of two people blocks the other (for the rules below).
    CREATE FUNCTION public.blocked_between(p_a uuid, p_b uuid) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        SELECT EXISTS (SELECT 1 FROM user_blocks
                       WHERE (blocker_id = p_a AND blocked_id = p_b)
                          OR (blocker_id = p_b AND blocked_id = p_a))
    $$;

    -- The people in a block relation with the caller, either way (empty when signed
    -- out). SECURITY DEFINER: the caller may not read the blocks against them, and
    -- learns only that some content is absent.
    CREATE FUNCTION public.block_wall() RETURNS uuid[]
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        SELECT coalesce(array_agg(other), '{{}}') FROM (
            SELECT blocked_id AS other FROM user_blocks WHERE blocker_id = auth.uid()
            UNION
            SELECT blocker_id FROM user_blocks WHERE blocked_id = auth.uid()) walls
    $$;
    {policies}

    -- Blocking ends follows both ways.
    CREATE FUNCTION public.user_blocks_after_insert() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        DELETE FROM followers
        WHERE (follower_id = NEW.blocker_id AND following_id = NEW.blocked_id)
           OR (follower_id = NEW.blocked_id AND following_id = NEW.blocker_id);
        RETURN NULL;
    END
    $$;
    CREATE TRIGGER user_blocks_after_insert_trigger AFTER INSERT ON public.user_blocks
        FOR EACH ROW EXECUTE FUNCTION public.user_blocks_after_insert();

    CREATE FUNCTION public.refuse_across_block() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        other uuid;
        actor uuid := auth.uid();
    BEGIN
        IF actor IS NULL THEN
            RETURN NEW;  -- maintenance and jobs
        END IF;
        CASE TG_TABLE_NAME
        WHEN 'followers' THEN
            other := NEW.following_id;
        WHEN 'comments' THEN
            SELECT p.author_id INTO other FROM posts p WHERE p.id = NEW.post_id;
        WHEN 'chat_room_participants' THEN
            other := NEW.user_id;
        WHEN 'chat_messages' THEN
            SELECT o.user_id INTO other FROM chat_room_participants o JOIN chat_rooms r
                ON r.id = o.room_id
            WHERE o.room_id = NEW.room_id AND r.type = 'direct' AND o.user_id <> NEW.sender_id
            LIMIT 1;
        END CASE;
        IF other IS NOT NULL AND other <> actor AND public.blocked_between(actor, other) THEN
            RAISE EXCEPTION 'not_found: %', CASE TG_TABLE_NAME
                WHEN 'comments' THEN 'no such post'
                WHEN 'chat_messages' THEN 'no such room'
                ELSE 'no such user' END;
        END IF;
        RETURN NEW;
    END
    $$;
    CREATE TRIGGER followers_refuse_across_block BEFORE INSERT ON public.followers
        FOR EACH ROW EXECUTE FUNCTION public.refuse_across_block();
    CREATE TRIGGER comments_refuse_across_block BEFORE INSERT ON public.comments
        FOR EACH ROW EXECUTE FUNCTION public.refuse_across_block();
    CREATE TRIGGER chat_room_participants_refuse_across_block
        BEFORE INSERT ON public.chat_room_participants
        FOR EACH ROW EXECUTE FUNCTION public.refuse_across_block();
    CREATE TRIGGER chat_messages_refuse_across_block BEFORE INSERT ON public.chat_messages
        FOR EACH ROW EXECUTE FUNCTION public.refuse_across_block();

    -- No notification across a block, or from someone the recipient muted.
    CREATE FUNCTION public.notifications_drop_blocked() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        actor uuid := (NEW.data -> 'actors' -> 0 ->> 'id')::uuid;
    BEGIN
        IF actor IS NOT NULL AND (public.blocked_between(NEW.user_id, actor)
            OR EXISTS (SELECT 1 FROM user_mutes m WHERE m.muter_id = NEW.user_id
                       AND m.muted_id = actor)) THEN
            RETURN NULL;
        END IF;
        RETURN NEW;
    END
    $$;
    CREATE TRIGGER notifications_drop_blocked BEFORE INSERT ON public.notifications
        FOR EACH ROW EXECUTE FUNCTION public.notifications_drop_blocked();

    REVOKE ALL ON FUNCTION public.blocked_between(uuid, uuid), public.block_wall(),
        public.user_blocks_after_insert(), public.refuse_across_block(),
        public.notifications_drop_blocked()
        FROM PUBLIC, anon, authenticated, service_role;
    GRANT EXECUTE ON FUNCTION public.block_wall() TO anon, authenticated, service_role;
    """)


def downgrade() -> None:
    drops = "\n".join(f'DROP POLICY "No {t} across a block" ON public.{t};' for t in _CONTENT)
    run_sql(f"""
    DROP TRIGGER notifications_drop_blocked ON public.notifications;
    DROP TRIGGER chat_messages_refuse_across_block ON public.chat_messages;
    DROP TRIGGER chat_room_participants_refuse_across_block ON public.chat_room_participants;
    DROP TRIGGER comments_refuse_across_block ON public.comments;
    DROP TRIGGER followers_refuse_across_block ON public.followers;
    {drops}
    DROP TABLE public.user_blocks, public.user_mutes, public.room_mutes;
    DROP FUNCTION public.notifications_drop_blocked();
    DROP FUNCTION public.refuse_across_block();
    DROP FUNCTION public.user_blocks_after_insert();
    DROP FUNCTION public.block_wall();
    DROP FUNCTION public.blocked_between(uuid, uuid);
    """)
