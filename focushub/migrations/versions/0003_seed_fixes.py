"""Fix what the seed schema gets wrong: privileges, counters, policies, integrity.

Revision ID: 0003_seed_fixes
Revises: 0002_seed_schema

Each step below is one group of fixes. docs/schema.md lists every defect of the
seed with its reason and names the step that fixes it (D1, D2, ... there; the
step numbers here). Seed names are kept wherever the seed named something;
replaced functions keep their name and trigger.

Conventions used throughout:

* Trigger functions that touch rows the caller may not write (counters, vote
  clean-up, room membership) are SECURITY DEFINER with
  ``SET search_path = public, pg_temp`` and qualify what they call in ``auth``
  and ``focushub_auth``.
* Trigger functions that enforce rules *for requests* are SECURITY INVOKER:
  they need ``current_user`` to be the request role (``anon`` or
  ``authenticated``). SECURITY DEFINER paths (counters, the future accept
  function) and ``service_role`` jobs pass them untouched.
* Our own errors are ``RAISE EXCEPTION '<code>: <text>'`` with the codes that
  focushub/core/errors.py maps: not_found 404, forbidden 403, conflict 409,
  validation_error 422.
"""

from focushub.migrations.sql import run_sql

revision = "0003_seed_fixes"
down_revision = "0002_seed_schema"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    SET LOCAL search_path = public;

    -- =================================================================
    -- Step 1. Defaults that mean something are NOT NULL.
    -- The seed gives counters, flags and timestamps a DEFAULT but allows
    -- NULL, and NULL breaks `col + 1` (NULL forever) and `WHERE is_active`.
    -- Existing NULLs (data written before this revision) take the default.
    -- =================================================================
    DO $step1$
    DECLARE
        col record;
    BEGIN
        FOR col IN
            SELECT * FROM (VALUES
                ('users', 'role'), ('users', 'is_verified'), ('users', 'is_active'),
                ('users', 'created_at'), ('users', 'updated_at'),
                ('posts', 'likes_count'), ('posts', 'comments_count'), ('posts', 'is_published'),
                ('posts', 'created_at'), ('posts', 'updated_at'),
                ('comments', 'likes_count'), ('comments', 'created_at'), ('comments', 'updated_at'),
                ('questions', 'status'), ('questions', 'votes_count'), ('questions', 'answers_count'),
                ('questions', 'views_count'), ('questions', 'created_at'), ('questions', 'updated_at'),
                ('ai_answers', 'generation_attempts'), ('ai_answers', 'created_at'),
                ('answers', 'is_accepted'), ('answers', 'votes_count'),
                ('answers', 'created_at'), ('answers', 'updated_at'),
                ('chat_rooms', 'type'), ('chat_rooms', 'is_active'),
                ('chat_rooms', 'created_at'), ('chat_rooms', 'updated_at'),
                ('chat_messages', 'message_type'), ('chat_messages', 'is_read'),
                ('chat_messages', 'created_at'),
                ('resources', 'downloads_count'), ('resources', 'is_public'),
                ('resources', 'created_at'), ('resources', 'updated_at'),
                ('votes', 'created_at'), ('followers', 'created_at'),
                ('chat_room_participants', 'role'), ('chat_room_participants', 'joined_at'),
                ('notifications', 'is_read'), ('notifications', 'created_at')
            ) AS t(tbl, name)
        LOOP
            EXECUTE format('UPDATE public.%I SET %I = DEFAULT WHERE %I IS NULL',
                           col.tbl, col.name, col.name);
            EXECUTE format('ALTER TABLE public.%I ALTER COLUMN %I SET NOT NULL', col.tbl, col.name);
        END LOOP;
    END
    $step1$;

    -- Counters that count rows can never be negative. (likes_count and
    -- votes_count are net scores, upvotes minus downvotes, and may be.)
    ALTER TABLE posts ADD CONSTRAINT posts_comments_count_check CHECK (comments_count >= 0);
    ALTER TABLE questions ADD CONSTRAINT questions_answers_count_check CHECK (answers_count >= 0);
    ALTER TABLE questions ADD CONSTRAINT questions_views_count_check CHECK (views_count >= 0);
    ALTER TABLE resources ADD CONSTRAINT resources_downloads_count_check CHECK (downloads_count >= 0);

    -- =================================================================
    -- Step 2. Integrity checks the seed leaves out.
    -- =================================================================

    -- 2a. An AI answer without a question can never be shown; scores are
    -- fractions like confidence_score; attempts and usage are counts.
    DELETE FROM ai_answers WHERE question_id IS NULL;
    ALTER TABLE ai_answers ALTER COLUMN question_id SET NOT NULL;
    ALTER TABLE ai_answers
        ADD CONSTRAINT ai_answers_relevance_score_check
            CHECK (relevance_score >= 0 AND relevance_score <= 1),
        ADD CONSTRAINT ai_answers_completeness_score_check
            CHECK (completeness_score >= 0 AND completeness_score <= 1),
        ADD CONSTRAINT ai_answers_generation_attempts_check CHECK (generation_attempts >= 1),
        ADD CONSTRAINT ai_answers_tokens_used_check CHECK (tokens_used >= 0),
        ADD CONSTRAINT ai_answers_processing_time_ms_check CHECK (processing_time_ms >= 0);

    -- 2b. Bounded, non-blank text. TEXT columns are otherwise unbounded, so a
    -- single request could store megabytes; the API validates the same limits.
    ALTER TABLE users
        ADD CONSTRAINT users_full_name_not_blank CHECK (btrim(full_name) <> ''),
        ADD CONSTRAINT users_bio_length CHECK (char_length(bio) <= 2000);
    ALTER TABLE posts
        ADD CONSTRAINT posts_title_not_blank CHECK (btrim(title) <> ''),
        ADD CONSTRAINT posts_content_length
            CHECK (btrim(content) <> '' AND char_length(content) <= 20000),
        ADD CONSTRAINT posts_tags_count CHECK (cardinality(tags) <= 10);
    ALTER TABLE comments
        ADD CONSTRAINT comments_content_length
            CHECK (btrim(content) <> '' AND char_length(content) <= 5000);
    ALTER TABLE questions
        ADD CONSTRAINT questions_title_not_blank CHECK (btrim(title) <> ''),
        ADD CONSTRAINT questions_content_length
            CHECK (btrim(content) <> '' AND char_length(content) <= 20000),
        ADD CONSTRAINT questions_tags_count CHECK (cardinality(tags) <= 10);
    ALTER TABLE answers
        ADD CONSTRAINT answers_content_length
            CHECK (btrim(content) <> '' AND char_length(content) <= 20000);
    ALTER TABLE chat_messages
        ADD CONSTRAINT chat_messages_content_length CHECK (char_length(content) <= 5000);
    ALTER TABLE resources
        ADD CONSTRAINT resources_title_not_blank CHECK (btrim(title) <> ''),
        ADD CONSTRAINT resources_description_length CHECK (char_length(description) <= 5000),
        ADD CONSTRAINT resources_tags_count CHECK (cardinality(tags) <= 10),
        ADD CONSTRAINT resources_file_size_check CHECK (file_size >= 0);

    -- 2c. Emails are unique regardless of case (the seed's users_email_key
    -- is kept: it is the name the API already maps, and it costs little).
    -- Usernames have the format the API validates, lower case, so the
    -- seed's users_username_key is effectively case-insensitive too.
    CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
    ALTER TABLE users
        ADD CONSTRAINT users_email_format CHECK (email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
        ADD CONSTRAINT users_username_format CHECK (username ~ '^[a-z0-9_]{3,50}$');

    -- 2d. Following yourself is meaningless.
    ALTER TABLE followers ADD CONSTRAINT followers_not_self CHECK (follower_id <> following_id);

    -- =================================================================
    -- Step 3. Helpers used by policies. SECURITY DEFINER so that a policy
    -- on chat_room_participants can ask about chat_room_participants
    -- without recursing into its own policy, and so that any policy can
    -- read users.role without a grant on it.
    -- =================================================================
    CREATE FUNCTION focushub_auth.is_admin() RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        SELECT EXISTS (
            SELECT 1 FROM public.users u
            WHERE u.id = auth.uid() AND u.role = 'admin' AND u.is_active
        )
    $$;
    COMMENT ON FUNCTION focushub_auth.is_admin() IS
        'True when the caller is an active user with role admin (site moderation).';

    CREATE FUNCTION public.is_room_member(p_room_id uuid) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        SELECT EXISTS (
            SELECT 1 FROM public.chat_room_participants p
            WHERE p.room_id = p_room_id AND p.user_id = auth.uid()
        )
    $$;
    COMMENT ON FUNCTION public.is_room_member(uuid) IS
        'True when the caller participates in the room.';

    CREATE FUNCTION public.room_role(p_room_id uuid) RETURNS participant_role
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        SELECT p.role FROM public.chat_room_participants p
        WHERE p.room_id = p_room_id AND p.user_id = auth.uid()
    $$;
    COMMENT ON FUNCTION public.room_role(uuid) IS
        'The caller''s participant role in the room, NULL when not a participant.';

    -- =================================================================
    -- Step 4. Votes: a typed, existing, foreign target; exact counters on
    -- the column each type really has; no vote outlives its target.
    -- =================================================================

    -- 4a. Votes that point at nothing (the seed has no foreign key for the
    -- polymorphic target) are removed before the type is constrained. The
    -- seed's trigger would fail on them (it updates columns that do not
    -- exist), and the counters are recounted in step 5 anyway.
    ALTER TABLE votes DISABLE TRIGGER update_vote_counts_trigger;
    DELETE FROM votes v
    WHERE NOT CASE v.votable_type
        WHEN 'post' THEN EXISTS (SELECT 1 FROM posts t WHERE t.id = v.votable_id)
        WHEN 'comment' THEN EXISTS (SELECT 1 FROM comments t WHERE t.id = v.votable_id)
        WHEN 'question' THEN EXISTS (SELECT 1 FROM questions t WHERE t.id = v.votable_id)
        WHEN 'answer' THEN EXISTS (SELECT 1 FROM answers t WHERE t.id = v.votable_id)
        ELSE false
    END;
    ALTER TABLE votes ENABLE TRIGGER update_vote_counts_trigger;
    ALTER TABLE votes ADD CONSTRAINT votes_votable_type_check
        CHECK (votable_type IN ('post', 'comment', 'question', 'answer'));

    -- 4b. Before a vote is stored: its target exists (locked FOR KEY SHARE
    -- so that a concurrent delete of the target waits for this vote and
    -- then removes it, see 4d; KEY SHARE does not block the counter
    -- updates of other voters), the target is not the voter's own, and on
    -- UPDATE only vote_type changes.
    CREATE FUNCTION check_vote_target() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        target_author uuid;
        post_published boolean := true;
        post_author uuid;
    BEGIN
        IF TG_OP = 'UPDATE' THEN
            IF NEW.user_id IS DISTINCT FROM OLD.user_id
               OR NEW.votable_type IS DISTINCT FROM OLD.votable_type
               OR NEW.votable_id IS DISTINCT FROM OLD.votable_id
            THEN
                RAISE EXCEPTION 'conflict: only the vote_type of a vote can change; withdraw the vote and vote again';
            END IF;
            RETURN NEW;
        END IF;

        CASE NEW.votable_type
            WHEN 'post' THEN
                SELECT t.author_id, t.is_published, t.author_id
                  INTO target_author, post_published, post_author
                  FROM posts t WHERE t.id = NEW.votable_id FOR KEY SHARE;
            WHEN 'comment' THEN
                SELECT t.author_id, p.is_published, p.author_id
                  INTO target_author, post_published, post_author
                  FROM comments t JOIN posts p ON p.id = t.post_id
                 WHERE t.id = NEW.votable_id FOR KEY SHARE OF t;
            WHEN 'question' THEN
                SELECT t.author_id INTO target_author
                  FROM questions t WHERE t.id = NEW.votable_id FOR KEY SHARE;
            WHEN 'answer' THEN
                SELECT t.author_id INTO target_author
                  FROM answers t WHERE t.id = NEW.votable_id FOR KEY SHARE;
            ELSE
                -- Reported here because the RLS check would otherwise refuse
                -- it as a privilege error before votes_votable_type_check runs.
                RAISE EXCEPTION 'validation_error: % is not something one can vote on', NEW.votable_type;
        END CASE;

        -- A draft (and the comments under it) exists only for its author,
        -- who cannot vote on it: for everyone else it is not there.
        IF NOT FOUND OR (NOT post_published AND post_author IS DISTINCT FROM NEW.user_id) THEN
            RAISE EXCEPTION 'not_found: there is no % with this id', NEW.votable_type;
        END IF;
        IF target_author = NEW.user_id THEN
            RAISE EXCEPTION 'conflict: you cannot vote on your own %', NEW.votable_type;
        END IF;
        RETURN NEW;
    END
    $$;
    CREATE TRIGGER check_vote_target_trigger
        BEFORE INSERT OR UPDATE ON votes
        FOR EACH ROW EXECUTE FUNCTION check_vote_target();

    -- 4c. The seed's update_vote_counts, rewritten: no dynamic SQL (the
    -- seed built a table name from user input and wrote votes_count on
    -- posts and comments, which only have likes_count); SECURITY DEFINER
    -- (the seed ran as the voter, so RLS silently skipped the counter of
    -- anyone else's content). Every counter is the net score, upvotes minus
    -- downvotes: a switch moves it by 2, a withdrawal reverses the vote.
    CREATE OR REPLACE FUNCTION update_vote_counts() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        delta integer;
        target_type text;
        target_id uuid;
    BEGIN
        IF TG_OP = 'INSERT' THEN
            delta := CASE NEW.vote_type WHEN 'upvote' THEN 1 ELSE -1 END;
            target_type := NEW.votable_type;
            target_id := NEW.votable_id;
        ELSIF TG_OP = 'DELETE' THEN
            delta := CASE OLD.vote_type WHEN 'upvote' THEN -1 ELSE 1 END;
            target_type := OLD.votable_type;
            target_id := OLD.votable_id;
        ELSE
            -- check_vote_target guarantees only vote_type changed.
            IF NEW.vote_type = OLD.vote_type THEN
                RETURN NULL;
            END IF;
            delta := CASE NEW.vote_type WHEN 'upvote' THEN 2 ELSE -2 END;
            target_type := NEW.votable_type;
            target_id := NEW.votable_id;
        END IF;

        -- Row-level `SET col = col + delta`: concurrent votes queue on the
        -- row lock and each adds to the latest value, so counts stay exact.
        -- When the target is being deleted in this transaction (cascades,
        -- step 4d) the UPDATE finds no row, which is what we want.
        CASE target_type
            WHEN 'post' THEN
                UPDATE posts SET likes_count = likes_count + delta WHERE id = target_id;
            WHEN 'comment' THEN
                UPDATE comments SET likes_count = likes_count + delta WHERE id = target_id;
            WHEN 'question' THEN
                UPDATE questions SET votes_count = votes_count + delta WHERE id = target_id;
            WHEN 'answer' THEN
                UPDATE answers SET votes_count = votes_count + delta WHERE id = target_id;
        END CASE;
        RETURN NULL;
    END
    $$;

    -- 4d. Deleting a post, comment, question or answer deletes its votes
    -- (the polymorphic target has no foreign key to cascade through). This
    -- also covers items deleted by cascade, e.g. the answers of a deleted
    -- question or the replies of a deleted comment.
    CREATE FUNCTION delete_votes_of_deleted_item() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        DELETE FROM votes WHERE votable_type = TG_ARGV[0] AND votable_id = OLD.id;
        RETURN NULL;
    END
    $$;
    CREATE TRIGGER delete_post_votes_trigger AFTER DELETE ON posts
        FOR EACH ROW EXECUTE FUNCTION delete_votes_of_deleted_item('post');
    CREATE TRIGGER delete_comment_votes_trigger AFTER DELETE ON comments
        FOR EACH ROW EXECUTE FUNCTION delete_votes_of_deleted_item('comment');
    CREATE TRIGGER delete_question_votes_trigger AFTER DELETE ON questions
        FOR EACH ROW EXECUTE FUNCTION delete_votes_of_deleted_item('question');
    CREATE TRIGGER delete_answer_votes_trigger AFTER DELETE ON answers
        FOR EACH ROW EXECUTE FUNCTION delete_votes_of_deleted_item('answer');

    -- =================================================================
    -- Step 5. Counters maintained by the database, exactly.
    -- =================================================================

    -- 5a. The seed's update_comment_counts ran as the commenter, so RLS
    -- ("Users can update own posts") silently skipped the counter of every
    -- post but the commenter's own. Same body, SECURITY DEFINER.
    CREATE OR REPLACE FUNCTION update_comment_counts() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            UPDATE posts SET comments_count = comments_count + 1 WHERE id = NEW.post_id;
        ELSIF TG_OP = 'DELETE' THEN
            UPDATE posts SET comments_count = comments_count - 1 WHERE id = OLD.post_id;
        END IF;
        RETURN NULL;
    END
    $$;

    -- 5b. questions.answers_count was never maintained by the seed. Deleting
    -- the accepted answer also reopens an 'answered' question.
    CREATE FUNCTION update_answer_counts() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            UPDATE questions SET answers_count = answers_count + 1 WHERE id = NEW.question_id;
        ELSIF TG_OP = 'DELETE' THEN
            UPDATE questions SET answers_count = answers_count - 1 WHERE id = OLD.question_id;
            IF OLD.is_accepted THEN
                UPDATE questions SET status = 'open'
                WHERE id = OLD.question_id AND status = 'answered';
            END IF;
        END IF;
        RETURN NULL;
    END
    $$;
    CREATE TRIGGER update_answer_counts_trigger
        AFTER INSERT OR DELETE ON answers
        FOR EACH ROW EXECUTE FUNCTION update_answer_counts();

    -- 5c. updated_at means "last edited": the seed's triggers fired on every
    -- UPDATE, so each vote, comment or answer rewrote the target's
    -- updated_at. Same names, now only for the content columns.
    DROP TRIGGER update_users_updated_at ON users;
    CREATE TRIGGER update_users_updated_at
        BEFORE UPDATE OF email, full_name, username, avatar_url, bio, role, is_verified, is_active
        ON users FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
    DROP TRIGGER update_posts_updated_at ON posts;
    CREATE TRIGGER update_posts_updated_at
        BEFORE UPDATE OF title, content, category, tags, is_published
        ON posts FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
    DROP TRIGGER update_comments_updated_at ON comments;
    CREATE TRIGGER update_comments_updated_at
        BEFORE UPDATE OF content
        ON comments FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
    DROP TRIGGER update_questions_updated_at ON questions;
    CREATE TRIGGER update_questions_updated_at
        BEFORE UPDATE OF title, content, category, tags, status
        ON questions FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
    DROP TRIGGER update_answers_updated_at ON answers;
    CREATE TRIGGER update_answers_updated_at
        BEFORE UPDATE OF content, is_accepted
        ON answers FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
    DROP TRIGGER update_resources_updated_at ON resources;
    CREATE TRIGGER update_resources_updated_at
        BEFORE UPDATE OF title, description, file_url, file_name, file_size, file_type,
                         category, tags, is_public
        ON resources FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

    -- 5d. Recount every counter from the rows it counts: under the seed's
    -- triggers they drifted (or never moved) on existing data.
    UPDATE posts p SET
        likes_count = coalesce((SELECT sum(CASE v.vote_type WHEN 'upvote' THEN 1 ELSE -1 END)
                                FROM votes v
                                WHERE v.votable_type = 'post' AND v.votable_id = p.id), 0),
        comments_count = (SELECT count(*) FROM comments c WHERE c.post_id = p.id);
    UPDATE comments c SET
        likes_count = coalesce((SELECT sum(CASE v.vote_type WHEN 'upvote' THEN 1 ELSE -1 END)
                                FROM votes v
                                WHERE v.votable_type = 'comment' AND v.votable_id = c.id), 0);
    UPDATE questions q SET
        votes_count = coalesce((SELECT sum(CASE v.vote_type WHEN 'upvote' THEN 1 ELSE -1 END)
                                FROM votes v
                                WHERE v.votable_type = 'question' AND v.votable_id = q.id), 0),
        answers_count = (SELECT count(*) FROM answers a WHERE a.question_id = q.id);
    UPDATE answers a SET
        votes_count = coalesce((SELECT sum(CASE v.vote_type WHEN 'upvote' THEN 1 ELSE -1 END)
                                FROM votes v
                                WHERE v.votable_type = 'answer' AND v.votable_id = a.id), 0);

    -- =================================================================
    -- Step 6. Question status and accepted answers.
    -- =================================================================

    -- 6a. At most one accepted answer per question. Nobody but a SECURITY
    -- DEFINER accept function (a later revision) can set is_accepted:
    -- no request role has a privilege on that column (step 11).
    CREATE UNIQUE INDEX answers_one_accepted_per_question
        ON answers (question_id) WHERE is_accepted;

    -- 6b. Rules for requests that update a question. Its author edits it
    -- and may close or reopen it; an admin may only close or reopen it;
    -- 'answered' is reached by accepting an answer, never by hand. A
    -- reopened question that has an accepted answer is 'answered' again.
    CREATE FUNCTION check_question_update() RETURNS trigger
    LANGUAGE plpgsql SET search_path = public, pg_temp
    AS $$
    BEGIN
        IF current_user NOT IN ('anon', 'authenticated') THEN
            RETURN NEW;
        END IF;
        IF OLD.author_id IS DISTINCT FROM auth.uid()
           AND (NEW.title, NEW.content, NEW.category, NEW.tags)
               IS DISTINCT FROM (OLD.title, OLD.content, OLD.category, OLD.tags)
        THEN
            RAISE EXCEPTION 'forbidden: only the author can edit a question';
        END IF;
        IF NEW.status IS DISTINCT FROM OLD.status THEN
            IF NEW.status = 'answered' THEN
                RAISE EXCEPTION 'forbidden: a question is answered when its author accepts an answer';
            ELSIF NEW.status = 'open' THEN
                IF OLD.status <> 'closed' THEN
                    RAISE EXCEPTION 'forbidden: only a closed question can be reopened';
                END IF;
                IF EXISTS (SELECT 1 FROM answers a WHERE a.question_id = NEW.id AND a.is_accepted) THEN
                    NEW.status := 'answered';
                END IF;
            END IF;
        END IF;
        RETURN NEW;
    END
    $$;
    CREATE TRIGGER check_question_update_trigger
        BEFORE UPDATE ON questions
        FOR EACH ROW EXECUTE FUNCTION check_question_update();

    -- 6c. A closed question takes no new answers.
    CREATE FUNCTION check_answer_question_open() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        IF EXISTS (SELECT 1 FROM questions q WHERE q.id = NEW.question_id AND q.status = 'closed') THEN
            RAISE EXCEPTION 'conflict: this question is closed';
        END IF;
        RETURN NEW;
    END
    $$;
    CREATE TRIGGER check_answer_question_open_trigger
        BEFORE INSERT ON answers
        FOR EACH ROW EXECUTE FUNCTION check_answer_question_open();

    -- =================================================================
    -- Step 7. Comments: replies stay on their post; comments are as
    -- visible as their post.
    -- =================================================================

    -- 7a. parent_id could point at a comment of another post.
    CREATE FUNCTION check_comment_parent() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        parent_post uuid;
    BEGIN
        IF NEW.parent_id IS NULL THEN
            RETURN NEW;
        END IF;
        SELECT c.post_id INTO parent_post FROM comments c WHERE c.id = NEW.parent_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'not_found: the comment you reply to does not exist';
        END IF;
        IF parent_post <> NEW.post_id THEN
            RAISE EXCEPTION 'validation_error: a reply must belong to the post of the comment it replies to';
        END IF;
        RETURN NEW;
    END
    $$;
    CREATE TRIGGER check_comment_parent_trigger
        BEFORE INSERT OR UPDATE OF parent_id, post_id ON comments
        FOR EACH ROW EXECUTE FUNCTION check_comment_parent();

    -- 7b. "Anyone can view comments" USING (true) showed the comments of
    -- unpublished posts, and anyone could comment on a draft whose id they
    -- knew. Both now require that the caller can see the post (the
    -- subquery runs under the caller's own posts policies).
    ALTER POLICY "Anyone can view comments" ON comments
        USING (EXISTS (SELECT 1 FROM posts p WHERE p.id = comments.post_id));
    ALTER POLICY "Users can create comments" ON comments
        WITH CHECK (auth.uid() = author_id
                    AND EXISTS (SELECT 1 FROM posts p WHERE p.id = comments.post_id));

    -- =================================================================
    -- Step 8. Full-text search that does not vanish on NULL.
    -- `title || ' ' || description` is NULL when description is NULL, so
    -- the seed's resource index found nothing for such rows. Stored
    -- generated columns (title weight A, body B) replace the expression
    -- indexes, under the seed's index names; queries use the column:
    -- `WHERE search_vector @@ websearch_to_tsquery('english', :q)`.
    -- =================================================================
    DROP INDEX idx_posts_search;
    ALTER TABLE posts ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A') ||
        setweight(to_tsvector('english'::regconfig, coalesce(content, '')), 'B')
    ) STORED;
    CREATE INDEX idx_posts_search ON posts USING GIN (search_vector);

    DROP INDEX idx_questions_search;
    ALTER TABLE questions ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A') ||
        setweight(to_tsvector('english'::regconfig, coalesce(content, '')), 'B')
    ) STORED;
    CREATE INDEX idx_questions_search ON questions USING GIN (search_vector);

    DROP INDEX idx_resources_search;
    ALTER TABLE resources ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A') ||
        setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'B')
    ) STORED;
    CREATE INDEX idx_resources_search ON resources USING GIN (search_vector);

    -- =================================================================
    -- Step 9. Chat: rooms have admins from the start, direct rooms have two
    -- people, read state is a per-participant cursor.
    -- =================================================================

    -- 9a. chat_messages.is_read is one flag for all readers, meaningless in
    -- a group. Unread state is chat_room_participants.last_read_at: messages
    -- created after it are unread for that participant. is_read stays for
    -- fidelity; no request role may write it.
    ALTER TABLE chat_room_participants ADD COLUMN last_read_at TIMESTAMP WITH TIME ZONE;
    COMMENT ON COLUMN chat_messages.is_read IS
        'Unused: read state is chat_room_participants.last_read_at (per participant).';

    -- 9b. The creator of a room is its first admin (room admins manage
    -- participants; without this nobody could add the first one).
    CREATE FUNCTION add_room_creator_as_admin() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        INSERT INTO chat_room_participants (room_id, user_id, role)
        VALUES (NEW.id, NEW.created_by, 'admin')
        ON CONFLICT (room_id, user_id) DO NOTHING;
        RETURN NULL;
    END
    $$;
    CREATE TRIGGER add_room_creator_as_admin_trigger
        AFTER INSERT ON chat_rooms
        FOR EACH ROW EXECUTE FUNCTION add_room_creator_as_admin();

    -- 9c. A direct room holds exactly its two people. The room row is
    -- locked so that two concurrent additions cannot both see one member.
    CREATE FUNCTION check_room_participant_limit() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        IF EXISTS (SELECT 1 FROM chat_rooms r WHERE r.id = NEW.room_id AND r.type = 'direct') THEN
            PERFORM 1 FROM chat_rooms r WHERE r.id = NEW.room_id FOR NO KEY UPDATE;
            IF (SELECT count(*) FROM chat_room_participants p WHERE p.room_id = NEW.room_id) >= 2 THEN
                RAISE EXCEPTION 'conflict: a direct chat has exactly two participants';
            END IF;
        END IF;
        RETURN NEW;
    END
    $$;
    CREATE TRIGGER check_room_participant_limit_trigger
        BEFORE INSERT ON chat_room_participants
        FOR EACH ROW EXECUTE FUNCTION check_room_participant_limit();

    -- 9d. Rules for requests that update a participant row: room admins
    -- change roles, each participant moves only their own read cursor,
    -- and nobody moves a participant to another room or user.
    CREATE FUNCTION check_participant_update() RETURNS trigger
    LANGUAGE plpgsql SET search_path = public, pg_temp
    AS $$
    BEGIN
        IF NEW.room_id IS DISTINCT FROM OLD.room_id OR NEW.user_id IS DISTINCT FROM OLD.user_id THEN
            RAISE EXCEPTION 'conflict: a participant cannot move to another room or user';
        END IF;
        IF current_user NOT IN ('anon', 'authenticated') THEN
            RETURN NEW;
        END IF;
        IF NEW.role IS DISTINCT FROM OLD.role
           AND public.room_role(OLD.room_id) IS DISTINCT FROM 'admin'
        THEN
            RAISE EXCEPTION 'forbidden: only room admins change participant roles';
        END IF;
        IF NEW.last_read_at IS DISTINCT FROM OLD.last_read_at
           AND OLD.user_id IS DISTINCT FROM auth.uid()
        THEN
            RAISE EXCEPTION 'forbidden: only the participant moves their own read position';
        END IF;
        RETURN NEW;
    END
    $$;
    CREATE TRIGGER check_participant_update_trigger
        BEFORE UPDATE ON chat_room_participants
        FOR EACH ROW EXECUTE FUNCTION check_participant_update();

    -- 9e. When the last admin leaves (or is removed), the longest-standing
    -- remaining participant becomes admin (moderators first). The room row
    -- is locked so that two admins leaving at once cannot both skip this.
    CREATE FUNCTION promote_room_admin_on_leave() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        IF OLD.role <> 'admin' THEN
            RETURN NULL;
        END IF;
        PERFORM 1 FROM chat_rooms r WHERE r.id = OLD.room_id FOR NO KEY UPDATE;
        IF NOT FOUND THEN
            RETURN NULL;  -- the room itself is being deleted
        END IF;
        IF NOT EXISTS (SELECT 1 FROM chat_room_participants p
                       WHERE p.room_id = OLD.room_id AND p.role = 'admin') THEN
            UPDATE chat_room_participants SET role = 'admin'
            WHERE id = (SELECT p.id FROM chat_room_participants p
                        WHERE p.room_id = OLD.room_id
                        ORDER BY (p.role = 'moderator') DESC, p.joined_at, p.id
                        LIMIT 1);
        END IF;
        RETURN NULL;
    END
    $$;
    CREATE TRIGGER promote_room_admin_on_leave_trigger
        AFTER DELETE ON chat_room_participants
        FOR EACH ROW EXECUTE FUNCTION promote_room_admin_on_leave();

    -- 9f. chat_rooms has updated_at but the seed gave it no trigger.
    CREATE TRIGGER update_chat_rooms_updated_at
        BEFORE UPDATE OF name, description, type, is_active
        ON chat_rooms FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

    -- =================================================================
    -- Step 10. Functions the API calls for what a plain statement may not do.
    -- =================================================================

    -- 10a. The caller's own account, email and last_login included (column
    -- privileges hide those two from everyone, step 11). Zero or one row.
    CREATE FUNCTION public.current_user_account()
    RETURNS TABLE (
        id uuid,
        email varchar,
        full_name varchar,
        username varchar,
        avatar_url text,
        bio text,
        role user_role,
        is_verified boolean,
        is_active boolean,
        last_login timestamptz,
        created_at timestamptz,
        updated_at timestamptz
    )
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        SELECT u.id, u.email, u.full_name, u.username, u.avatar_url, u.bio, u.role,
               u.is_verified, u.is_active, u.last_login, u.created_at, u.updated_at
        FROM public.users u
        WHERE u.id = auth.uid()
    $$;
    COMMENT ON FUNCTION public.current_user_account() IS
        'The calling user''s own row, all columns; no row when anonymous or deleted.';

    -- 10b. Moderation of accounts. NULL arguments leave the value as it is.
    -- An admin cannot change their own role or status, so the last admin
    -- cannot lock everyone out by accident.
    CREATE FUNCTION public.admin_set_user_status(
        p_user_id uuid,
        p_role user_role DEFAULT NULL,
        p_is_active boolean DEFAULT NULL
    ) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        IF NOT focushub_auth.is_admin() THEN
            RAISE EXCEPTION 'forbidden: only administrators can change a user''s role or status';
        END IF;
        IF p_user_id = auth.uid() THEN
            RAISE EXCEPTION 'conflict: administrators cannot change their own role or status';
        END IF;
        UPDATE users
        SET role = coalesce(p_role, role), is_active = coalesce(p_is_active, is_active)
        WHERE id = p_user_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'not_found: there is no user with this id';
        END IF;
    END
    $$;

    -- =================================================================
    -- Step 11. Privileges. The seed grants nothing (on Supabase, default
    -- privileges grant ALL on every table to anon and authenticated, which
    -- with the seed's "Users can update own profile" lets anyone make
    -- themselves admin). Start from nothing, then grant exactly: anon
    -- reads public content; authenticated reads, and writes only content
    -- columns; counters, flags set by the system (role, is_verified,
    -- is_active, last_login, email, is_accepted, status 'answered'...)
    -- are written only by SECURITY DEFINER functions and service_role.
    -- =================================================================
    REVOKE ALL ON users, posts, comments, questions, ai_answers, answers, chat_rooms,
                  chat_messages, resources, votes, followers, chat_room_participants,
                  notifications
        FROM PUBLIC, anon, authenticated, service_role;
    GRANT ALL ON users, posts, comments, questions, ai_answers, answers, chat_rooms,
                 chat_messages, resources, votes, followers, chat_room_participants,
                 notifications
        TO service_role;

    -- users: email and last_login are readable only through
    -- current_user_account(); no INSERT (sign-up is a SECURITY DEFINER
    -- function of 0004) and no DELETE.
    GRANT SELECT (id, full_name, username, avatar_url, bio, role, is_verified, is_active,
                  created_at, updated_at)
        ON users TO anon, authenticated;
    GRANT UPDATE (full_name, username, avatar_url, bio) ON users TO authenticated;

    GRANT SELECT ON posts, comments, questions, answers, ai_answers, resources, followers
        TO anon, authenticated;

    GRANT INSERT (author_id, title, content, category, tags, is_published) ON posts TO authenticated;
    GRANT UPDATE (title, content, category, tags, is_published) ON posts TO authenticated;
    GRANT DELETE ON posts TO authenticated;

    GRANT INSERT (post_id, author_id, parent_id, content) ON comments TO authenticated;
    GRANT UPDATE (content) ON comments TO authenticated;
    GRANT DELETE ON comments TO authenticated;

    GRANT INSERT (author_id, title, content, category, tags) ON questions TO authenticated;
    GRANT UPDATE (title, content, category, tags, status) ON questions TO authenticated;
    GRANT DELETE ON questions TO authenticated;

    GRANT INSERT (question_id, author_id, content) ON answers TO authenticated;
    GRANT UPDATE (content) ON answers TO authenticated;
    GRANT DELETE ON answers TO authenticated;

    GRANT INSERT (author_id, title, description, file_url, file_name, file_size, file_type,
                  category, tags, is_public)
        ON resources TO authenticated;
    GRANT UPDATE (title, description, category, tags, is_public) ON resources TO authenticated;
    GRANT DELETE ON resources TO authenticated;

    GRANT SELECT, DELETE ON votes TO authenticated;
    GRANT INSERT (user_id, votable_type, votable_id, vote_type) ON votes TO authenticated;
    GRANT UPDATE (vote_type) ON votes TO authenticated;

    GRANT INSERT (follower_id, following_id) ON followers TO authenticated;
    GRANT DELETE ON followers TO authenticated;

    GRANT SELECT, DELETE ON chat_rooms TO authenticated;
    GRANT INSERT (name, description, type, created_by) ON chat_rooms TO authenticated;
    GRANT UPDATE (name, description, is_active) ON chat_rooms TO authenticated;

    GRANT SELECT, DELETE ON chat_room_participants TO authenticated;
    GRANT INSERT (room_id, user_id, role) ON chat_room_participants TO authenticated;
    GRANT UPDATE (role, last_read_at) ON chat_room_participants TO authenticated;

    GRANT SELECT, DELETE ON chat_messages TO authenticated;
    GRANT INSERT (room_id, sender_id, content, message_type, file_url) ON chat_messages TO authenticated;
    GRANT UPDATE (content) ON chat_messages TO authenticated;

    -- notifications are created by SECURITY DEFINER code and service_role only.
    GRANT SELECT, DELETE ON notifications TO authenticated;
    GRANT UPDATE (is_read) ON notifications TO authenticated;

    -- Functions: nothing is executable by default (PostgreSQL grants
    -- EXECUTE to PUBLIC, Supabase to anon and authenticated as well).
    REVOKE ALL ON FUNCTION
        focushub_auth.is_admin(), public.is_room_member(uuid), public.room_role(uuid),
        public.current_user_account(), public.admin_set_user_status(uuid, user_role, boolean),
        update_vote_counts(), update_comment_counts(), update_answer_counts(),
        check_vote_target(), delete_votes_of_deleted_item(), check_question_update(),
        check_answer_question_open(), check_comment_parent(), add_room_creator_as_admin(),
        check_room_participant_limit(), check_participant_update(), promote_room_admin_on_leave()
        FROM PUBLIC, anon, authenticated, service_role;
    GRANT EXECUTE ON FUNCTION focushub_auth.is_admin() TO anon, authenticated, service_role;
    GRANT EXECUTE ON FUNCTION public.is_room_member(uuid), public.room_role(uuid)
        TO authenticated, service_role;
    GRANT EXECUTE ON FUNCTION public.current_user_account() TO authenticated;
    GRANT EXECUTE ON FUNCTION public.admin_set_user_status(uuid, user_role, boolean) TO authenticated;

    -- =================================================================
    -- Step 12. Policies the seed is missing. RLS was enabled on chat_rooms,
    -- chat_messages, chat_room_participants, votes, followers and
    -- notifications with no policy at all (nobody could use them), and
    -- not enabled on ai_answers.
    -- =================================================================

    -- 12a. Posts: authors see their own drafts (the seed showed only
    -- published posts, so an author could not even unpublish-and-edit).
    CREATE POLICY "Authors can view own posts" ON posts
        FOR SELECT TO authenticated USING (auth.uid() = author_id);

    -- 12b. Site admins moderate public content: delete any post, comment,
    -- question, answer or resource they can see, close or reopen any
    -- question (check_question_update stops them editing its text).
    CREATE POLICY "Admins can delete any post" ON posts
        FOR DELETE TO authenticated USING (focushub_auth.is_admin());
    CREATE POLICY "Admins can delete any comment" ON comments
        FOR DELETE TO authenticated USING (focushub_auth.is_admin());
    CREATE POLICY "Admins can close any question" ON questions
        FOR UPDATE TO authenticated USING (focushub_auth.is_admin()) WITH CHECK (focushub_auth.is_admin());
    CREATE POLICY "Admins can delete any question" ON questions
        FOR DELETE TO authenticated USING (focushub_auth.is_admin());
    CREATE POLICY "Admins can delete any answer" ON answers
        FOR DELETE TO authenticated USING (focushub_auth.is_admin());
    CREATE POLICY "Admins can delete any resource" ON resources
        FOR DELETE TO authenticated USING (focushub_auth.is_admin());

    -- 12c. AI answers: readable with their question; written only by
    -- service_role (the AI job), which holds the only write privileges.
    ALTER TABLE ai_answers ENABLE ROW LEVEL SECURITY;
    CREATE POLICY "Anyone can view AI answers of visible questions" ON ai_answers
        FOR SELECT TO anon, authenticated
        USING (EXISTS (SELECT 1 FROM questions q WHERE q.id = ai_answers.question_id));

    -- 12d. Chat rooms: participants see their rooms (the creator too, so
    -- that INSERT ... RETURNING works before the creator trigger has run);
    -- anyone signed in creates a room as themselves; room admins edit it;
    -- its creator, while still an admin of it, deletes it. Site admins get
    -- nothing here: private chats stay private.
    CREATE POLICY "Participants can view their rooms" ON chat_rooms
        FOR SELECT TO authenticated
        USING (public.is_room_member(id) OR auth.uid() = created_by);
    CREATE POLICY "Users can create rooms" ON chat_rooms
        FOR INSERT TO authenticated WITH CHECK (auth.uid() = created_by);
    CREATE POLICY "Room admins can update rooms" ON chat_rooms
        FOR UPDATE TO authenticated
        USING (public.room_role(id) = 'admin') WITH CHECK (public.room_role(id) = 'admin');
    CREATE POLICY "Room creators can delete rooms" ON chat_rooms
        FOR DELETE TO authenticated
        USING (auth.uid() = created_by AND public.room_role(id) = 'admin');

    -- 12e. Participants: members see who else is in the room; room admins
    -- add, re-role and remove; anyone may leave; each participant moves
    -- their own read cursor (check_participant_update splits the columns).
    CREATE POLICY "Participants can view room members" ON chat_room_participants
        FOR SELECT TO authenticated USING (public.is_room_member(room_id));
    CREATE POLICY "Room admins can add participants" ON chat_room_participants
        FOR INSERT TO authenticated WITH CHECK (public.room_role(room_id) = 'admin');
    CREATE POLICY "Participants can update membership" ON chat_room_participants
        FOR UPDATE TO authenticated
        USING (auth.uid() = user_id OR public.room_role(room_id) = 'admin')
        WITH CHECK (auth.uid() = user_id OR public.room_role(room_id) = 'admin');
    CREATE POLICY "Room admins can remove participants" ON chat_room_participants
        FOR DELETE TO authenticated USING (public.room_role(room_id) = 'admin');
    CREATE POLICY "Participants can leave rooms" ON chat_room_participants
        FOR DELETE TO authenticated USING (auth.uid() = user_id);

    -- 12f. Messages: participants read; send only as yourself, into a room
    -- you are in, never as 'system'; edit and delete your own; room
    -- moderators and admins delete any message of their room.
    CREATE POLICY "Participants can view messages" ON chat_messages
        FOR SELECT TO authenticated USING (public.is_room_member(room_id));
    CREATE POLICY "Participants can send messages as themselves" ON chat_messages
        FOR INSERT TO authenticated
        WITH CHECK (auth.uid() = sender_id AND public.is_room_member(room_id)
                    AND message_type <> 'system');
    CREATE POLICY "Users can edit own messages" ON chat_messages
        FOR UPDATE TO authenticated
        USING (auth.uid() = sender_id AND public.is_room_member(room_id))
        WITH CHECK (auth.uid() = sender_id);
    CREATE POLICY "Users can delete own messages" ON chat_messages
        FOR DELETE TO authenticated USING (auth.uid() = sender_id);
    CREATE POLICY "Room moderators can delete messages" ON chat_messages
        FOR DELETE TO authenticated
        USING (public.room_role(room_id) IN ('admin', 'moderator'));

    -- 12g. Votes are private to the voter (items carry the totals); a vote
    -- is cast only as yourself and only on something you can see.
    CREATE POLICY "Users can view own votes" ON votes
        FOR SELECT TO authenticated USING (auth.uid() = user_id);
    CREATE POLICY "Users can vote as themselves" ON votes
        FOR INSERT TO authenticated
        WITH CHECK (auth.uid() = user_id AND CASE votable_type
            WHEN 'post' THEN EXISTS (SELECT 1 FROM posts t WHERE t.id = votes.votable_id)
            WHEN 'comment' THEN EXISTS (SELECT 1 FROM comments t WHERE t.id = votes.votable_id)
            WHEN 'question' THEN EXISTS (SELECT 1 FROM questions t WHERE t.id = votes.votable_id)
            WHEN 'answer' THEN EXISTS (SELECT 1 FROM answers t WHERE t.id = votes.votable_id)
            ELSE false
        END);
    CREATE POLICY "Users can change own votes" ON votes
        FOR UPDATE TO authenticated
        USING (auth.uid() = user_id) WITH CHECK (auth.uid() = user_id);
    CREATE POLICY "Users can withdraw own votes" ON votes
        FOR DELETE TO authenticated USING (auth.uid() = user_id);

    -- 12h. Follows are public; you follow and unfollow only as yourself.
    CREATE POLICY "Anyone can view follows" ON followers
        FOR SELECT TO anon, authenticated USING (true);
    CREATE POLICY "Users can follow as themselves" ON followers
        FOR INSERT TO authenticated WITH CHECK (auth.uid() = follower_id);
    CREATE POLICY "Users can unfollow" ON followers
        FOR DELETE TO authenticated USING (auth.uid() = follower_id);

    -- 12i. Notifications belong to their recipient.
    CREATE POLICY "Users can view own notifications" ON notifications
        FOR SELECT TO authenticated USING (auth.uid() = user_id);
    CREATE POLICY "Users can mark own notifications read" ON notifications
        FOR UPDATE TO authenticated
        USING (auth.uid() = user_id) WITH CHECK (auth.uid() = user_id);
    CREATE POLICY "Users can delete own notifications" ON notifications
        FOR DELETE TO authenticated USING (auth.uid() = user_id);

    SET LOCAL search_path TO DEFAULT;
    """)


def downgrade() -> None:
    run_sql("""
    SET LOCAL search_path = public;

    -- Step 12
    DROP POLICY "Users can delete own notifications" ON notifications;
    DROP POLICY "Users can mark own notifications read" ON notifications;
    DROP POLICY "Users can view own notifications" ON notifications;
    DROP POLICY "Users can unfollow" ON followers;
    DROP POLICY "Users can follow as themselves" ON followers;
    DROP POLICY "Anyone can view follows" ON followers;
    DROP POLICY "Users can withdraw own votes" ON votes;
    DROP POLICY "Users can change own votes" ON votes;
    DROP POLICY "Users can vote as themselves" ON votes;
    DROP POLICY "Users can view own votes" ON votes;
    DROP POLICY "Room moderators can delete messages" ON chat_messages;
    DROP POLICY "Users can delete own messages" ON chat_messages;
    DROP POLICY "Users can edit own messages" ON chat_messages;
    DROP POLICY "Participants can send messages as themselves" ON chat_messages;
    DROP POLICY "Participants can view messages" ON chat_messages;
    DROP POLICY "Participants can leave rooms" ON chat_room_participants;
    DROP POLICY "Room admins can remove participants" ON chat_room_participants;
    DROP POLICY "Participants can update membership" ON chat_room_participants;
    DROP POLICY "Room admins can add participants" ON chat_room_participants;
    DROP POLICY "Participants can view room members" ON chat_room_participants;
    DROP POLICY "Room creators can delete rooms" ON chat_rooms;
    DROP POLICY "Room admins can update rooms" ON chat_rooms;
    DROP POLICY "Users can create rooms" ON chat_rooms;
    DROP POLICY "Participants can view their rooms" ON chat_rooms;
    DROP POLICY "Anyone can view AI answers of visible questions" ON ai_answers;
    ALTER TABLE ai_answers DISABLE ROW LEVEL SECURITY;
    DROP POLICY "Admins can delete any resource" ON resources;
    DROP POLICY "Admins can delete any answer" ON answers;
    DROP POLICY "Admins can delete any question" ON questions;
    DROP POLICY "Admins can close any question" ON questions;
    DROP POLICY "Admins can delete any comment" ON comments;
    DROP POLICY "Admins can delete any post" ON posts;
    DROP POLICY "Authors can view own posts" ON posts;

    -- Step 11 (column privileges go with the table-level REVOKE; the two
    -- seed functions get back the default EXECUTE for PUBLIC)
    REVOKE ALL ON users, posts, comments, questions, ai_answers, answers, chat_rooms,
                  chat_messages, resources, votes, followers, chat_room_participants,
                  notifications
        FROM anon, authenticated, service_role;
    GRANT EXECUTE ON FUNCTION update_vote_counts(), update_comment_counts() TO PUBLIC;

    -- Step 10
    DROP FUNCTION public.admin_set_user_status(uuid, user_role, boolean);
    DROP FUNCTION public.current_user_account();

    -- Step 9
    DROP TRIGGER update_chat_rooms_updated_at ON chat_rooms;
    DROP TRIGGER promote_room_admin_on_leave_trigger ON chat_room_participants;
    DROP FUNCTION promote_room_admin_on_leave();
    DROP TRIGGER check_participant_update_trigger ON chat_room_participants;
    DROP FUNCTION check_participant_update();
    DROP TRIGGER check_room_participant_limit_trigger ON chat_room_participants;
    DROP FUNCTION check_room_participant_limit();
    DROP TRIGGER add_room_creator_as_admin_trigger ON chat_rooms;
    DROP FUNCTION add_room_creator_as_admin();
    COMMENT ON COLUMN chat_messages.is_read IS NULL;
    ALTER TABLE chat_room_participants DROP COLUMN last_read_at;

    -- Step 8
    DROP INDEX idx_resources_search;
    ALTER TABLE resources DROP COLUMN search_vector;
    CREATE INDEX idx_resources_search ON resources USING GIN(to_tsvector('english', title || ' ' || description));
    DROP INDEX idx_questions_search;
    ALTER TABLE questions DROP COLUMN search_vector;
    CREATE INDEX idx_questions_search ON questions USING GIN(to_tsvector('english', title || ' ' || content));
    DROP INDEX idx_posts_search;
    ALTER TABLE posts DROP COLUMN search_vector;
    CREATE INDEX idx_posts_search ON posts USING GIN(to_tsvector('english', title || ' ' || content));

    -- Step 7
    ALTER POLICY "Users can create comments" ON comments WITH CHECK (auth.uid() = author_id);
    ALTER POLICY "Anyone can view comments" ON comments USING (true);
    DROP TRIGGER check_comment_parent_trigger ON comments;
    DROP FUNCTION check_comment_parent();

    -- Step 6
    DROP TRIGGER check_answer_question_open_trigger ON answers;
    DROP FUNCTION check_answer_question_open();
    DROP TRIGGER check_question_update_trigger ON questions;
    DROP FUNCTION check_question_update();
    DROP INDEX answers_one_accepted_per_question;

    -- Step 5 (the recount is not undone: counts stay correct)
    DROP TRIGGER update_users_updated_at ON users;
    CREATE TRIGGER update_users_updated_at BEFORE UPDATE ON users
        FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
    DROP TRIGGER update_posts_updated_at ON posts;
    CREATE TRIGGER update_posts_updated_at BEFORE UPDATE ON posts
        FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
    DROP TRIGGER update_comments_updated_at ON comments;
    CREATE TRIGGER update_comments_updated_at BEFORE UPDATE ON comments
        FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
    DROP TRIGGER update_questions_updated_at ON questions;
    CREATE TRIGGER update_questions_updated_at BEFORE UPDATE ON questions
        FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
    DROP TRIGGER update_answers_updated_at ON answers;
    CREATE TRIGGER update_answers_updated_at BEFORE UPDATE ON answers
        FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
    DROP TRIGGER update_resources_updated_at ON resources;
    CREATE TRIGGER update_resources_updated_at BEFORE UPDATE ON resources
        FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
    DROP TRIGGER update_answer_counts_trigger ON answers;
    DROP FUNCTION update_answer_counts();
    CREATE OR REPLACE FUNCTION update_comment_counts()
    RETURNS TRIGGER AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            UPDATE posts SET comments_count = comments_count + 1 WHERE id = NEW.post_id;
            RETURN NEW;
        ELSIF TG_OP = 'DELETE' THEN
            UPDATE posts SET comments_count = comments_count - 1 WHERE id = OLD.post_id;
            RETURN OLD;
        END IF;
        RETURN NULL;
    END;
    $$ LANGUAGE plpgsql;

    -- Step 4
    DROP TRIGGER delete_answer_votes_trigger ON answers;
    DROP TRIGGER delete_question_votes_trigger ON questions;
    DROP TRIGGER delete_comment_votes_trigger ON comments;
    DROP TRIGGER delete_post_votes_trigger ON posts;
    DROP FUNCTION delete_votes_of_deleted_item();
    DROP TRIGGER check_vote_target_trigger ON votes;
    DROP FUNCTION check_vote_target();
    ALTER TABLE votes DROP CONSTRAINT votes_votable_type_check;
    CREATE OR REPLACE FUNCTION update_vote_counts()
    RETURNS TRIGGER AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            IF NEW.vote_type = 'upvote' THEN
                EXECUTE format('UPDATE %I SET votes_count = votes_count + 1 WHERE id = $1', NEW.votable_type || 's')
                USING NEW.votable_id;
            ELSIF NEW.vote_type = 'downvote' THEN
                EXECUTE format('UPDATE %I SET votes_count = votes_count - 1 WHERE id = $1', NEW.votable_type || 's')
                USING NEW.votable_id;
            END IF;
            RETURN NEW;
        ELSIF TG_OP = 'UPDATE' THEN
            IF OLD.vote_type != NEW.vote_type THEN
                IF OLD.vote_type = 'upvote' AND NEW.vote_type = 'downvote' THEN
                    EXECUTE format('UPDATE %I SET votes_count = votes_count - 2 WHERE id = $1', NEW.votable_type || 's')
                    USING NEW.votable_id;
                ELSIF OLD.vote_type = 'downvote' AND NEW.vote_type = 'upvote' THEN
                    EXECUTE format('UPDATE %I SET votes_count = votes_count + 2 WHERE id = $1', NEW.votable_type || 's')
                    USING NEW.votable_id;
                END IF;
            END IF;
            RETURN NEW;
        ELSIF TG_OP = 'DELETE' THEN
            IF OLD.vote_type = 'upvote' THEN
                EXECUTE format('UPDATE %I SET votes_count = votes_count - 1 WHERE id = $1', OLD.votable_type || 's')
                USING OLD.votable_id;
            ELSIF OLD.vote_type = 'downvote' THEN
                EXECUTE format('UPDATE %I SET votes_count = votes_count + 1 WHERE id = $1', OLD.votable_type || 's')
                USING OLD.votable_id;
            END IF;
            RETURN OLD;
        END IF;
        RETURN NULL;
    END;
    $$ LANGUAGE plpgsql;

    -- Step 3
    DROP FUNCTION public.room_role(uuid);
    DROP FUNCTION public.is_room_member(uuid);
    DROP FUNCTION focushub_auth.is_admin();

    -- Step 2
    ALTER TABLE followers DROP CONSTRAINT followers_not_self;
    ALTER TABLE users
        DROP CONSTRAINT users_username_format,
        DROP CONSTRAINT users_email_format;
    DROP INDEX users_email_lower_key;
    ALTER TABLE resources
        DROP CONSTRAINT resources_file_size_check,
        DROP CONSTRAINT resources_tags_count,
        DROP CONSTRAINT resources_description_length,
        DROP CONSTRAINT resources_title_not_blank;
    ALTER TABLE chat_messages DROP CONSTRAINT chat_messages_content_length;
    ALTER TABLE answers DROP CONSTRAINT answers_content_length;
    ALTER TABLE questions
        DROP CONSTRAINT questions_tags_count,
        DROP CONSTRAINT questions_content_length,
        DROP CONSTRAINT questions_title_not_blank;
    ALTER TABLE comments DROP CONSTRAINT comments_content_length;
    ALTER TABLE posts
        DROP CONSTRAINT posts_tags_count,
        DROP CONSTRAINT posts_content_length,
        DROP CONSTRAINT posts_title_not_blank;
    ALTER TABLE users
        DROP CONSTRAINT users_bio_length,
        DROP CONSTRAINT users_full_name_not_blank;
    ALTER TABLE ai_answers
        DROP CONSTRAINT ai_answers_processing_time_ms_check,
        DROP CONSTRAINT ai_answers_tokens_used_check,
        DROP CONSTRAINT ai_answers_generation_attempts_check,
        DROP CONSTRAINT ai_answers_completeness_score_check,
        DROP CONSTRAINT ai_answers_relevance_score_check;
    ALTER TABLE ai_answers ALTER COLUMN question_id DROP NOT NULL;

    -- Step 1
    ALTER TABLE resources DROP CONSTRAINT resources_downloads_count_check;
    ALTER TABLE questions DROP CONSTRAINT questions_views_count_check;
    ALTER TABLE questions DROP CONSTRAINT questions_answers_count_check;
    ALTER TABLE posts DROP CONSTRAINT posts_comments_count_check;
    DO $step1$
    DECLARE
        col record;
    BEGIN
        FOR col IN
            SELECT * FROM (VALUES
                ('users', 'role'), ('users', 'is_verified'), ('users', 'is_active'),
                ('users', 'created_at'), ('users', 'updated_at'),
                ('posts', 'likes_count'), ('posts', 'comments_count'), ('posts', 'is_published'),
                ('posts', 'created_at'), ('posts', 'updated_at'),
                ('comments', 'likes_count'), ('comments', 'created_at'), ('comments', 'updated_at'),
                ('questions', 'status'), ('questions', 'votes_count'), ('questions', 'answers_count'),
                ('questions', 'views_count'), ('questions', 'created_at'), ('questions', 'updated_at'),
                ('ai_answers', 'generation_attempts'), ('ai_answers', 'created_at'),
                ('answers', 'is_accepted'), ('answers', 'votes_count'),
                ('answers', 'created_at'), ('answers', 'updated_at'),
                ('chat_rooms', 'type'), ('chat_rooms', 'is_active'),
                ('chat_rooms', 'created_at'), ('chat_rooms', 'updated_at'),
                ('chat_messages', 'message_type'), ('chat_messages', 'is_read'),
                ('chat_messages', 'created_at'),
                ('resources', 'downloads_count'), ('resources', 'is_public'),
                ('resources', 'created_at'), ('resources', 'updated_at'),
                ('votes', 'created_at'), ('followers', 'created_at'),
                ('chat_room_participants', 'role'), ('chat_room_participants', 'joined_at'),
                ('notifications', 'is_read'), ('notifications', 'created_at')
            ) AS t(tbl, name)
        LOOP
            EXECUTE format('ALTER TABLE public.%I ALTER COLUMN %I DROP NOT NULL', col.tbl, col.name);
        END LOOP;
    END
    $step1$;

    SET LOCAL search_path TO DEFAULT;
    """)
