"""Follows, feed, search and notifications: triggers, coalescing, preferences.

Revision ID: 0007_follows_feed_notifications
Revises: 0006_questions_answers

What this revision adds (docs/schema.md lists it beside the seed):

1. Keyset indexes for the follower lists and the notification list,
   and two indexes for user search (username prefix, words of the full name).
2. ``notification_preferences``: one row per user who changed a setting, one
   boolean per notification type; no row means "everything on". RLS: each
   user reads, creates and updates only their own row.
3. Notifications are written in exactly one place, ``public.notify()``, called
   by AFTER triggers on votes (upvote: like), comments (comment; reply),
   answers (answer), followers (follow) and on the content of posts,
   comments, questions and answers (mention). They therefore commit or roll
   back with the action that caused them, whichever code path wrote it.
   ``notify()`` skips the actor's own actions and types the recipient turned
   off, and coalesces: while an unread notification for the same
   (recipient, type, target) exists it is updated (count, latest actors,
   created_at) instead of a new row being inserted. The partial unique index
   ``notifications_unread_target_key`` plus INSERT ... ON CONFLICT DO UPDATE
   makes that exact under concurrency: concurrent likes queue on the one
   unread row. System notifications (no actor, no target, never coalesced)
   come from jobs through ``public.notify_system()`` (service_role only).
4. Two SECURITY DEFINER full-text accessors for search, because under RLS
   PostgreSQL never uses ``@@`` (not leakproof) as an index condition on
   posts and resources (step 4 explains why they reveal nothing).

Realtime: a ``notification.created`` event belongs in ``public.notify()``,
right after its upsert, as ``pg_notify(...)`` (PostgreSQL delivers it only when
the transaction commits). Nothing is emitted yet.
"""

from focushub.migrations.sql import run_sql

revision = "0007_follows_feed_notifications"
down_revision = "0006_questions_answers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql(r"""
    SET LOCAL search_path = public;

    -- =================================================================
    -- Step 1. Indexes for keyset pages and search.
    -- =================================================================

    -- Followers and following lists, newest first.
    CREATE INDEX idx_followers_following_created
        ON followers (following_id, created_at DESC, id DESC);
    CREATE INDEX idx_followers_follower_created
        ON followers (follower_id, created_at DESC, id DESC);

    -- The feed needs no index of its own: it reads posts through
    -- idx_posts_published_new / idx_posts_author_new (0005) and questions
    -- through idx_questions_newest / idx_questions_author_newest (0006).

    -- User search without extensions: usernames (always lower case) by
    -- prefix, full names word by word ("simple" keeps names as written).
    CREATE INDEX idx_users_username_prefix ON users (username varchar_pattern_ops);
    CREATE INDEX idx_users_full_name_search
        ON users USING GIN (to_tsvector('simple'::regconfig, (full_name)::text));

    -- Notifications: the recipient's list, newest first; and the key that
    -- coalesces unread notifications about the same target. It also serves
    -- the unread count (user_id prefix, only unread rows). Notifications
    -- without a target (system) have NULL keys and never coalesce.
    CREATE INDEX idx_notifications_user_created
        ON notifications (user_id, created_at DESC, id DESC);
    CREATE UNIQUE INDEX notifications_unread_target_key
        ON notifications (user_id, type, (data ->> 'target_type'), (data ->> 'target_id'))
        WHERE NOT is_read;

    -- =================================================================
    -- Step 2. Notification preferences ("settings that are enforced").
    -- =================================================================
    CREATE TABLE notification_preferences (
        user_id UUID PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
        on_like BOOLEAN NOT NULL DEFAULT true,
        on_comment BOOLEAN NOT NULL DEFAULT true,
        on_follow BOOLEAN NOT NULL DEFAULT true,
        on_answer BOOLEAN NOT NULL DEFAULT true,
        on_mention BOOLEAN NOT NULL DEFAULT true,
        on_system BOOLEAN NOT NULL DEFAULT true,
        updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
    );
    COMMENT ON TABLE notification_preferences IS
        'Which notification types a user receives; no row means all of them.';

    CREATE TRIGGER update_notification_preferences_updated_at
        BEFORE UPDATE OF on_like, on_comment, on_follow, on_answer, on_mention, on_system
        ON notification_preferences FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

    ALTER TABLE notification_preferences ENABLE ROW LEVEL SECURITY;
    CREATE POLICY "Users can view own notification preferences" ON notification_preferences
        FOR SELECT TO authenticated USING (auth.uid() = user_id);
    CREATE POLICY "Users can create own notification preferences" ON notification_preferences
        FOR INSERT TO authenticated WITH CHECK (auth.uid() = user_id);
    CREATE POLICY "Users can change own notification preferences" ON notification_preferences
        FOR UPDATE TO authenticated
        USING (auth.uid() = user_id) WITH CHECK (auth.uid() = user_id);

    -- Explicit, as in 0003: on Supabase new tables are granted to everyone.
    REVOKE ALL ON notification_preferences FROM PUBLIC, anon, authenticated, service_role;
    GRANT ALL ON notification_preferences TO service_role;
    GRANT SELECT ON notification_preferences TO authenticated;
    GRANT INSERT (user_id, on_like, on_comment, on_follow, on_answer, on_mention, on_system)
        ON notification_preferences TO authenticated;
    GRANT UPDATE (on_like, on_comment, on_follow, on_answer, on_mention, on_system)
        ON notification_preferences TO authenticated;

    -- =================================================================
    -- Step 3. The one place notifications are written.
    -- =================================================================

    -- 3a. The title for a notification about `p_count` actions, the latest
    -- by `p_actor`: "alice liked your post", "10 people liked your post".
    CREATE FUNCTION public.notification_title(
        p_type notification_type, p_target_type text, p_count integer, p_actor text
    ) RETURNS text
    LANGUAGE sql IMMUTABLE SET search_path = public, pg_temp
    AS $$
        SELECT CASE WHEN p_count > 1 THEN p_count::text || ' people'
                    ELSE coalesce(p_actor, 'Someone') END
            || ' '
            || CASE p_type
                WHEN 'like' THEN
                    CASE WHEN p_target_type IN ('question', 'answer') THEN 'upvoted your '
                         ELSE 'liked your ' END || p_target_type
                WHEN 'comment' THEN
                    CASE WHEN p_target_type = 'comment' THEN 'replied to your comment'
                         ELSE 'commented on your ' || p_target_type END
                WHEN 'follow' THEN 'started following you'
                WHEN 'answer' THEN 'answered your question'
                WHEN 'mention' THEN
                    'mentioned you in ' || CASE WHEN p_target_type = 'answer' THEN 'an ' ELSE 'a ' END
                    || p_target_type
                ELSE 'sent you a notification'
            END
    $$;

    -- 3b. Fold one more action by `p_actor` ({"id", "username"}) into the
    -- data of an unread notification: count + 1 unless the actor is among
    -- the three latest (a like withdrawn and given again is one like), the
    -- actor moved to the front of `actors` (at most three kept).
    CREATE FUNCTION public.notification_merge(p_data jsonb, p_actor jsonb, p_extra jsonb)
    RETURNS jsonb
    LANGUAGE sql IMMUTABLE SET search_path = public, pg_temp
    AS $$
        SELECT p_data || p_extra || jsonb_build_object(
            'count',
            coalesce((p_data ->> 'count')::integer, 1)
                + CASE WHEN coalesce(p_data -> 'actors', '[]'::jsonb)
                            @> jsonb_build_array(jsonb_build_object('id', p_actor -> 'id'))
                       THEN 0 ELSE 1 END,
            'actors',
            (SELECT coalesce(jsonb_agg(s.actor ORDER BY s.ord), '[]'::jsonb)
             FROM (SELECT t.actor, t.ord
                   FROM jsonb_array_elements(jsonb_build_array(p_actor)
                                             || coalesce(p_data -> 'actors', '[]'::jsonb))
                        WITH ORDINALITY AS t(actor, ord)
                   WHERE t.ord = 1 OR t.actor -> 'id' IS DISTINCT FROM p_actor -> 'id'
                   ORDER BY t.ord
                   LIMIT 3) s)
        )
    $$;

    -- 3c. Notify `p_recipient` that `p_actor` did `p_type` to the target.
    -- Nothing happens for one's own actions or for a type the recipient
    -- turned off. Coalesces with the recipient's unread notification of the
    -- same type and target (see the module docstring). Precondition: called
    -- by the triggers below (or service_role code) inside the transaction of
    -- the action itself.
    CREATE FUNCTION public.notify(
        p_recipient uuid,
        p_actor uuid,
        p_type notification_type,
        p_target_type text,
        p_target_id uuid,
        p_message text,
        p_extra jsonb DEFAULT '{}'::jsonb
    ) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        enabled boolean;
        actor jsonb;
        actor_name text;
    BEGIN
        IF p_recipient IS NULL OR p_recipient = p_actor THEN
            RETURN;
        END IF;
        SELECT CASE p_type
                   WHEN 'like' THEN np.on_like
                   WHEN 'comment' THEN np.on_comment
                   WHEN 'follow' THEN np.on_follow
                   WHEN 'answer' THEN np.on_answer
                   WHEN 'mention' THEN np.on_mention
                   WHEN 'system' THEN np.on_system
               END
          INTO enabled
          FROM notification_preferences np WHERE np.user_id = p_recipient;
        IF enabled IS FALSE THEN  -- no row: every type is on
            RETURN;
        END IF;

        SELECT u.username INTO actor_name FROM users u WHERE u.id = p_actor;
        actor := CASE WHEN p_actor IS NULL THEN NULL
                      ELSE jsonb_build_object('id', p_actor, 'username', actor_name) END;

        INSERT INTO notifications AS n (user_id, type, title, message, data)
        VALUES (
            p_recipient,
            p_type,
            public.notification_title(p_type, p_target_type, 1, actor_name),
            left(coalesce(p_message, ''), 500),
            coalesce(p_extra, '{}'::jsonb) || jsonb_build_object(
                'target_type', p_target_type,
                'target_id', p_target_id,
                'count', 1,
                'actors', CASE WHEN actor IS NULL THEN '[]'::jsonb ELSE jsonb_build_array(actor) END
            )
        )
        ON CONFLICT (user_id, type, (data ->> 'target_type'), (data ->> 'target_id')) WHERE NOT is_read
        DO UPDATE SET (data, title, message, created_at) = (
            SELECT merged,
                   public.notification_title(n.type, p_target_type, (merged ->> 'count')::integer,
                                             actor_name),
                   EXCLUDED.message,
                   now()
            FROM public.notification_merge(n.data, actor, coalesce(p_extra, '{}'::jsonb)) AS merged
        );
    END
    $$;

    -- 3d. "@username" mentions in a text: distinct, lower case, at most 20.
    -- A mention starts the text or follows a character that cannot be part
    -- of a word or an email address, and ends where a username must end.
    CREATE FUNCTION public.mentioned_usernames(p_text text) RETURNS text[]
    LANGUAGE sql IMMUTABLE SET search_path = public, pg_temp
    AS $$
        SELECT coalesce((array_agg(DISTINCT lower(m[1])))[1:20], '{}'::text[])
        FROM regexp_matches(coalesce(p_text, ''),
                            '(?:^|[^[:alnum:]_@])@([[:alnum:]_]{3,50})(?![[:alnum:]_@])', 'g') AS m
    $$;

    -- 3e. Notify every existing, active user newly mentioned in `p_new`
    -- (those already mentioned in `p_old` were told before), except the
    -- author and `p_skip` (people this same action already notified).
    CREATE FUNCTION public.notify_mentions(
        p_new text, p_old text, p_actor uuid, p_target_type text, p_target_id uuid,
        p_message text, p_extra jsonb, p_skip uuid[]
    ) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        recipient uuid;
    BEGIN
        FOR recipient IN
            SELECT u.id FROM users u
            WHERE u.username = ANY (public.mentioned_usernames(p_new))
              AND NOT (u.username = ANY (public.mentioned_usernames(p_old)))
              AND u.is_active
              AND u.id <> p_actor
              AND NOT coalesce(u.id = ANY (array_remove(p_skip, NULL)), false)
        LOOP
            PERFORM public.notify(recipient, p_actor, 'mention', p_target_type, p_target_id,
                                  p_message, p_extra);
        END LOOP;
    END
    $$;

    -- 3f. Upvotes are likes (a downvote switched to an upvote too). The
    -- target exists: check_vote_target ran before the vote was stored.
    CREATE FUNCTION notify_on_vote() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        recipient uuid;
        message text;
        extra jsonb := '{}'::jsonb;
    BEGIN
        IF NEW.vote_type <> 'upvote' OR (TG_OP = 'UPDATE' AND OLD.vote_type = 'upvote') THEN
            RETURN NULL;
        END IF;
        CASE NEW.votable_type
            WHEN 'post' THEN
                SELECT t.author_id, t.title INTO recipient, message
                  FROM posts t WHERE t.id = NEW.votable_id;
            WHEN 'comment' THEN
                SELECT t.author_id, left(t.content, 200), jsonb_build_object('post_id', t.post_id)
                  INTO recipient, message, extra
                  FROM comments t WHERE t.id = NEW.votable_id;
            WHEN 'question' THEN
                SELECT t.author_id, t.title INTO recipient, message
                  FROM questions t WHERE t.id = NEW.votable_id;
            WHEN 'answer' THEN
                SELECT t.author_id, left(t.content, 200), jsonb_build_object('question_id', t.question_id)
                  INTO recipient, message, extra
                  FROM answers t WHERE t.id = NEW.votable_id;
            ELSE
                RETURN NULL;
        END CASE;
        PERFORM public.notify(recipient, NEW.user_id, 'like', NEW.votable_type, NEW.votable_id,
                              message, extra);
        RETURN NULL;
    END
    $$;
    CREATE TRIGGER notify_on_vote_trigger
        AFTER INSERT OR UPDATE OF vote_type ON votes
        FOR EACH ROW EXECUTE FUNCTION notify_on_vote();

    -- 3g. A comment tells the author of the post; a reply tells the author
    -- of the comment it replies to (and the post author too when that is
    -- someone else). Then mentions, for people not told already. Comments
    -- on a draft can only be its author's own (RLS), so they notify nobody
    -- but mentions, which wait for the post to be visible.
    CREATE FUNCTION notify_on_comment() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        post_author uuid;
        published boolean;
        parent_author uuid;
        excerpt text := left(NEW.content, 200);
        extra jsonb := jsonb_build_object('post_id', NEW.post_id, 'comment_id', NEW.id);
    BEGIN
        SELECT p.author_id, p.is_published INTO post_author, published
          FROM posts p WHERE p.id = NEW.post_id;
        IF NOT coalesce(published, false) THEN
            RETURN NULL;
        END IF;
        IF NEW.parent_id IS NOT NULL THEN
            SELECT c.author_id INTO parent_author FROM comments c WHERE c.id = NEW.parent_id;
        END IF;
        IF TG_OP = 'INSERT' THEN
            IF parent_author IS NOT NULL THEN
                PERFORM public.notify(parent_author, NEW.author_id, 'comment', 'comment',
                                      NEW.parent_id, excerpt, extra);
            END IF;
            IF post_author IS DISTINCT FROM parent_author THEN
                PERFORM public.notify(post_author, NEW.author_id, 'comment', 'post',
                                      NEW.post_id, excerpt, extra);
            END IF;
            PERFORM public.notify_mentions(NEW.content, NULL, NEW.author_id, 'comment', NEW.id,
                                           excerpt, extra, ARRAY[post_author, parent_author]);
        ELSE
            PERFORM public.notify_mentions(NEW.content, OLD.content, NEW.author_id, 'comment', NEW.id,
                                           excerpt, extra, ARRAY[post_author, parent_author]);
        END IF;
        RETURN NULL;
    END
    $$;
    CREATE TRIGGER notify_on_comment_trigger
        AFTER INSERT OR UPDATE OF content ON comments
        FOR EACH ROW EXECUTE FUNCTION notify_on_comment();

    -- 3h. An answer tells the asker; then mentions.
    CREATE FUNCTION notify_on_answer() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        asker uuid;
        excerpt text := left(NEW.content, 200);
        extra jsonb := jsonb_build_object('question_id', NEW.question_id, 'answer_id', NEW.id);
    BEGIN
        SELECT q.author_id INTO asker FROM questions q WHERE q.id = NEW.question_id;
        IF TG_OP = 'INSERT' THEN
            PERFORM public.notify(asker, NEW.author_id, 'answer', 'question', NEW.question_id,
                                  excerpt, extra);
            PERFORM public.notify_mentions(NEW.content, NULL, NEW.author_id, 'answer', NEW.id,
                                           excerpt, extra, ARRAY[asker]);
        ELSE
            PERFORM public.notify_mentions(NEW.content, OLD.content, NEW.author_id, 'answer', NEW.id,
                                           excerpt, extra, ARRAY[asker]);
        END IF;
        RETURN NULL;
    END
    $$;
    CREATE TRIGGER notify_on_answer_trigger
        AFTER INSERT OR UPDATE OF content ON answers
        FOR EACH ROW EXECUTE FUNCTION notify_on_answer();

    -- 3i. Mentions in posts, once they are published: on publication every
    -- mention counts as new; on an edit of a published post only the added ones.
    CREATE FUNCTION notify_on_post() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        old_content text;
    BEGIN
        IF NOT NEW.is_published THEN
            RETURN NULL;
        END IF;
        IF TG_OP = 'UPDATE' AND OLD.is_published THEN
            old_content := OLD.content;
        END IF;
        PERFORM public.notify_mentions(NEW.content, old_content, NEW.author_id, 'post', NEW.id,
                                       NEW.title, '{}'::jsonb, '{}'::uuid[]);
        RETURN NULL;
    END
    $$;
    CREATE TRIGGER notify_on_post_trigger
        AFTER INSERT OR UPDATE OF content, is_published ON posts
        FOR EACH ROW EXECUTE FUNCTION notify_on_post();

    -- 3j. Mentions in questions.
    CREATE FUNCTION notify_on_question() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        PERFORM public.notify_mentions(NEW.content, CASE WHEN TG_OP = 'UPDATE' THEN OLD.content END,
                                       NEW.author_id, 'question', NEW.id, NEW.title,
                                       '{}'::jsonb, '{}'::uuid[]);
        RETURN NULL;
    END
    $$;
    CREATE TRIGGER notify_on_question_trigger
        AFTER INSERT OR UPDATE OF content ON questions
        FOR EACH ROW EXECUTE FUNCTION notify_on_question();

    -- 3k. A new follower. The target is the person followed, so that
    -- several new followers coalesce into one "N people started following you".
    CREATE FUNCTION notify_on_follow() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        follower_name text;
    BEGIN
        SELECT u.full_name INTO follower_name FROM users u WHERE u.id = NEW.follower_id;
        PERFORM public.notify(NEW.following_id, NEW.follower_id, 'follow', 'user', NEW.following_id,
                              coalesce(follower_name, ''),
                              jsonb_build_object('follower_id', NEW.follower_id));
        RETURN NULL;
    END
    $$;
    CREATE TRIGGER notify_on_follow_trigger
        AFTER INSERT ON followers
        FOR EACH ROW EXECUTE FUNCTION notify_on_follow();

    -- 3l. System notifications, for jobs and maintenance (service_role):
    -- they respect the recipient's preference and never coalesce.
    CREATE FUNCTION public.notify_system(p_user_id uuid, p_title text, p_message text,
                                         p_data jsonb DEFAULT '{}'::jsonb)
    RETURNS uuid
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        created uuid;
    BEGIN
        IF EXISTS (SELECT 1 FROM notification_preferences np
                   WHERE np.user_id = p_user_id AND NOT np.on_system) THEN
            RETURN NULL;
        END IF;
        INSERT INTO notifications (user_id, type, title, message, data)
        VALUES (p_user_id, 'system', left(p_title, 255), p_message, coalesce(p_data, '{}'::jsonb))
        RETURNING id INTO created;
        RETURN created;
    END
    $$;

    REVOKE ALL ON FUNCTION
        public.notification_title(notification_type, text, integer, text),
        public.notification_merge(jsonb, jsonb, jsonb),
        public.notify(uuid, uuid, notification_type, text, uuid, text, jsonb),
        public.mentioned_usernames(text),
        public.notify_mentions(text, text, uuid, text, uuid, text, jsonb, uuid[]),
        notify_on_vote(), notify_on_comment(), notify_on_answer(), notify_on_post(),
        notify_on_question(), notify_on_follow(),
        public.notify_system(uuid, text, text, jsonb)
        FROM PUBLIC, anon, authenticated, service_role;
    GRANT EXECUTE ON FUNCTION public.notify_system(uuid, text, text, jsonb) TO service_role;

    -- =================================================================
    -- Step 4. Full-text search that can use its GIN indexes under RLS.
    -- `@@` is not leakproof, so PostgreSQL never uses it as an index
    -- condition on a table whose policies filter rows (posts, resources):
    -- every search would read the whole table. These accessors read the
    -- index as the owner and return only ids of rows that everyone may see
    -- anyway (published posts, public resources), so they reveal nothing a
    -- search as anon would not. The API then reads those rows from the
    -- table under RLS, which still decides (focushub/search/queries.py).
    -- =================================================================
    CREATE FUNCTION public.search_published_posts(p_query tsquery) RETURNS SETOF uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        SELECT p.id FROM posts p WHERE p.is_published AND p.search_vector @@ p_query
    $$;
    COMMENT ON FUNCTION public.search_published_posts(tsquery) IS
        'Ids of published posts matching the query, through idx_posts_search.';

    CREATE FUNCTION public.search_public_resources(p_query tsquery) RETURNS SETOF uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        SELECT r.id FROM resources r WHERE r.is_public AND r.search_vector @@ p_query
    $$;
    COMMENT ON FUNCTION public.search_public_resources(tsquery) IS
        'Ids of public resources matching the query, through idx_resources_search.';

    REVOKE ALL ON FUNCTION public.search_published_posts(tsquery), public.search_public_resources(tsquery)
        FROM PUBLIC, anon, authenticated, service_role;
    GRANT EXECUTE ON FUNCTION public.search_published_posts(tsquery), public.search_public_resources(tsquery)
        TO anon, authenticated, service_role;

    SET LOCAL search_path TO DEFAULT;
    """)


def downgrade() -> None:
    run_sql("""
    SET LOCAL search_path = public;

    -- Step 4
    DROP FUNCTION public.search_public_resources(tsquery);
    DROP FUNCTION public.search_published_posts(tsquery);

    -- Step 3
    DROP FUNCTION public.notify_system(uuid, text, text, jsonb);
    DROP TRIGGER notify_on_follow_trigger ON followers;
    DROP FUNCTION notify_on_follow();
    DROP TRIGGER notify_on_question_trigger ON questions;
    DROP FUNCTION notify_on_question();
    DROP TRIGGER notify_on_post_trigger ON posts;
    DROP FUNCTION notify_on_post();
    DROP TRIGGER notify_on_answer_trigger ON answers;
    DROP FUNCTION notify_on_answer();
    DROP TRIGGER notify_on_comment_trigger ON comments;
    DROP FUNCTION notify_on_comment();
    DROP TRIGGER notify_on_vote_trigger ON votes;
    DROP FUNCTION notify_on_vote();
    DROP FUNCTION public.notify_mentions(text, text, uuid, text, uuid, text, jsonb, uuid[]);
    DROP FUNCTION public.mentioned_usernames(text);
    DROP FUNCTION public.notify(uuid, uuid, notification_type, text, uuid, text, jsonb);
    DROP FUNCTION public.notification_merge(jsonb, jsonb, jsonb);
    DROP FUNCTION public.notification_title(notification_type, text, integer, text);

    -- Step 2 (policies, grants and the trigger go with the table)
    DROP TABLE notification_preferences;

    -- Step 1
    DROP INDEX notifications_unread_target_key;
    DROP INDEX idx_notifications_user_created;
    DROP INDEX idx_users_full_name_search;
    DROP INDEX idx_users_username_prefix;
    DROP INDEX idx_followers_follower_created;
    DROP INDEX idx_followers_following_created;

    SET LOCAL search_path TO DEFAULT;
    """)
