"""The seed schema document (seeds/000_9ea80d68551bfa34.txt), as written.

Revision ID: 0002_seed_schema
Revises: 0001_supabase_roles

This revision is the seed, kept faithful so a reader can hold the document
beside it: same tables, columns, defaults, constraints, foreign keys, index,
function, trigger and policy names. Only what PostgreSQL itself would reject
or what the seed states elsewhere is adjusted here:

* the enum types are created before the tables that use them (the document
  shows each CREATE TYPE after its CREATE TABLE, which fails as written);
* chat_rooms.created_by says ON DELETE RESTRICT explicitly, as the seed's
  foreign key table (section 3.2) states, where its DDL left the default;
* the language name of update_updated_at_column is written unquoted.

Everything the seed gets wrong is fixed in 0003_seed_fixes and listed, with
reasons, in docs/schema.md.
"""

from focushub.migrations.sql import run_sql

revision = "0002_seed_schema"
down_revision = "0001_supabase_roles"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    -- Unqualified names below mean public, whatever the session's search_path
    -- (reset at the end: all revisions of a run share one transaction).
    SET LOCAL search_path = public;

    -- ---------------------------------------------------------------- enums
    CREATE TYPE user_role AS ENUM ('student', 'educator', 'admin');
    CREATE TYPE question_status AS ENUM ('open', 'answered', 'closed');
    CREATE TYPE room_type AS ENUM ('direct', 'group');
    CREATE TYPE message_type AS ENUM ('text', 'image', 'file', 'system');
    CREATE TYPE vote_type AS ENUM ('upvote', 'downvote');
    CREATE TYPE participant_role AS ENUM ('member', 'moderator', 'admin');
    CREATE TYPE notification_type AS ENUM ('like', 'comment', 'follow', 'answer', 'mention', 'system');

    -- --------------------------------------------------------------- tables
    -- 2.1
    CREATE TABLE users (
        id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
        email VARCHAR(255) UNIQUE NOT NULL,
        full_name VARCHAR(255) NOT NULL,
        username VARCHAR(50) UNIQUE NOT NULL,
        avatar_url TEXT,
        bio TEXT,
        role user_role DEFAULT 'student',
        is_verified BOOLEAN DEFAULT false,
        is_active BOOLEAN DEFAULT true,
        last_login TIMESTAMP WITH TIME ZONE,
        created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
        updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
    );

    -- 2.2
    CREATE TABLE posts (
        id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
        author_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        title VARCHAR(255) NOT NULL,
        content TEXT NOT NULL,
        category VARCHAR(50),
        tags TEXT[],
        likes_count INTEGER DEFAULT 0,
        comments_count INTEGER DEFAULT 0,
        is_published BOOLEAN DEFAULT true,
        created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
        updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
    );

    -- 2.3
    CREATE TABLE comments (
        id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
        post_id UUID NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
        author_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        parent_id UUID REFERENCES comments(id) ON DELETE CASCADE,
        content TEXT NOT NULL,
        likes_count INTEGER DEFAULT 0,
        created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
        updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
    );

    -- 2.4
    CREATE TABLE questions (
        id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
        author_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        title VARCHAR(255) NOT NULL,
        content TEXT NOT NULL,
        category VARCHAR(50),
        tags TEXT[],
        status question_status DEFAULT 'open',
        votes_count INTEGER DEFAULT 0,
        answers_count INTEGER DEFAULT 0,
        views_count INTEGER DEFAULT 0,
        created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
        updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
    );

    -- 2.5
    CREATE TABLE ai_answers (
        id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
        question_id UUID REFERENCES questions(id) ON DELETE CASCADE,
        answer_text TEXT NOT NULL,
        confidence_score DECIMAL(3,2) CHECK (confidence_score >= 0 AND confidence_score <= 1),
        model_used TEXT,
        tokens_used INTEGER,
        processing_time_ms INTEGER,
        relevance_score DECIMAL(3,2),
        completeness_score DECIMAL(3,2),
        user_feedback_rating INTEGER CHECK (user_feedback_rating BETWEEN 1 AND 5),
        generation_attempts INTEGER DEFAULT 1,
        created_at TIMESTAMPTZ DEFAULT NOW()
    );

    -- 2.6 (the first one)
    CREATE TABLE answers (
        id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
        question_id UUID NOT NULL REFERENCES questions(id) ON DELETE CASCADE,
        author_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        content TEXT NOT NULL,
        is_accepted BOOLEAN DEFAULT false,
        votes_count INTEGER DEFAULT 0,
        created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
        updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
    );

    -- 2.6 (the second one); ON DELETE RESTRICT as in section 3.2
    CREATE TABLE chat_rooms (
        id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
        name VARCHAR(255) NOT NULL,
        description TEXT,
        type room_type DEFAULT 'group',
        created_by UUID NOT NULL REFERENCES users(id) ON DELETE RESTRICT,
        is_active BOOLEAN DEFAULT true,
        created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
        updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
    );

    -- 2.7
    CREATE TABLE chat_messages (
        id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
        room_id UUID NOT NULL REFERENCES chat_rooms(id) ON DELETE CASCADE,
        sender_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        content TEXT NOT NULL,
        message_type message_type DEFAULT 'text',
        file_url TEXT,
        is_read BOOLEAN DEFAULT false,
        created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
    );

    -- 2.8
    CREATE TABLE resources (
        id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
        title VARCHAR(255) NOT NULL,
        description TEXT,
        author_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        file_url TEXT NOT NULL,
        file_name VARCHAR(255) NOT NULL,
        file_size BIGINT NOT NULL,
        file_type VARCHAR(50) NOT NULL,
        category VARCHAR(50),
        tags TEXT[],
        downloads_count INTEGER DEFAULT 0,
        is_public BOOLEAN DEFAULT true,
        created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
        updated_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
    );

    -- 2.9
    CREATE TABLE votes (
        id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
        user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        votable_type VARCHAR(20) NOT NULL,
        votable_id UUID NOT NULL,
        vote_type vote_type NOT NULL,
        created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
        UNIQUE(user_id, votable_type, votable_id)
    );

    -- 2.10
    CREATE TABLE followers (
        id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
        follower_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        following_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
        UNIQUE(follower_id, following_id)
    );

    -- 2.11
    CREATE TABLE chat_room_participants (
        id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
        room_id UUID NOT NULL REFERENCES chat_rooms(id) ON DELETE CASCADE,
        user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        role participant_role DEFAULT 'member',
        joined_at TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
        UNIQUE(room_id, user_id)
    );

    -- 2.12
    CREATE TABLE notifications (
        id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
        user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        type notification_type NOT NULL,
        title VARCHAR(255) NOT NULL,
        message TEXT NOT NULL,
        data JSONB,
        is_read BOOLEAN DEFAULT false,
        created_at TIMESTAMP WITH TIME ZONE DEFAULT NOW()
    );

    -- ------------------------------------------------ 4.2 secondary indexes
    CREATE INDEX idx_users_email ON users(email);
    CREATE INDEX idx_users_username ON users(username);
    CREATE INDEX idx_users_role ON users(role);
    CREATE INDEX idx_users_created_at ON users(created_at);

    CREATE INDEX idx_posts_author_id ON posts(author_id);
    CREATE INDEX idx_posts_category ON posts(category);
    CREATE INDEX idx_posts_created_at ON posts(created_at);
    CREATE INDEX idx_posts_tags ON posts USING GIN(tags);

    CREATE INDEX idx_comments_post_id ON comments(post_id);
    CREATE INDEX idx_comments_author_id ON comments(author_id);
    CREATE INDEX idx_comments_parent_id ON comments(parent_id);
    CREATE INDEX idx_comments_created_at ON comments(created_at);

    CREATE INDEX idx_questions_author_id ON questions(author_id);
    CREATE INDEX idx_questions_category ON questions(category);
    CREATE INDEX idx_questions_status ON questions(status);
    CREATE INDEX idx_questions_created_at ON questions(created_at);
    CREATE INDEX idx_questions_tags ON questions USING GIN(tags);

    CREATE INDEX idx_ai_answers_question_id ON ai_answers(question_id);
    CREATE INDEX idx_ai_answers_confidence_score ON ai_answers(confidence_score DESC);

    CREATE INDEX idx_answers_question_id ON answers(question_id);
    CREATE INDEX idx_answers_author_id ON answers(author_id);
    CREATE INDEX idx_answers_is_accepted ON answers(is_accepted);

    CREATE INDEX idx_chat_messages_room_id ON chat_messages(room_id);
    CREATE INDEX idx_chat_messages_sender_id ON chat_messages(sender_id);
    CREATE INDEX idx_chat_messages_created_at ON chat_messages(created_at);

    CREATE INDEX idx_resources_author_id ON resources(author_id);
    CREATE INDEX idx_resources_category ON resources(category);
    CREATE INDEX idx_resources_file_type ON resources(file_type);
    CREATE INDEX idx_resources_tags ON resources USING GIN(tags);

    CREATE INDEX idx_votes_user_id ON votes(user_id);
    CREATE INDEX idx_votes_votable ON votes(votable_type, votable_id);

    CREATE INDEX idx_followers_follower_id ON followers(follower_id);
    CREATE INDEX idx_followers_following_id ON followers(following_id);

    CREATE INDEX idx_notifications_user_id ON notifications(user_id);
    CREATE INDEX idx_notifications_is_read ON notifications(is_read);
    CREATE INDEX idx_notifications_created_at ON notifications(created_at);

    -- ---------------------------------------------- 4.3 full-text indexes
    CREATE INDEX idx_posts_search ON posts USING GIN(to_tsvector('english', title || ' ' || content));
    CREATE INDEX idx_questions_search ON questions USING GIN(to_tsvector('english', title || ' ' || content));
    CREATE INDEX idx_resources_search ON resources USING GIN(to_tsvector('english', title || ' ' || description));

    -- ------------------------------------------------------------- 5.1 RLS
    ALTER TABLE users ENABLE ROW LEVEL SECURITY;
    ALTER TABLE posts ENABLE ROW LEVEL SECURITY;
    ALTER TABLE comments ENABLE ROW LEVEL SECURITY;
    ALTER TABLE questions ENABLE ROW LEVEL SECURITY;
    ALTER TABLE answers ENABLE ROW LEVEL SECURITY;
    ALTER TABLE chat_rooms ENABLE ROW LEVEL SECURITY;
    ALTER TABLE chat_messages ENABLE ROW LEVEL SECURITY;
    ALTER TABLE resources ENABLE ROW LEVEL SECURITY;
    ALTER TABLE votes ENABLE ROW LEVEL SECURITY;
    ALTER TABLE followers ENABLE ROW LEVEL SECURITY;
    ALTER TABLE chat_room_participants ENABLE ROW LEVEL SECURITY;
    ALTER TABLE notifications ENABLE ROW LEVEL SECURITY;

    CREATE POLICY "Users can view public profiles" ON users
        FOR SELECT USING (true);
    CREATE POLICY "Users can update own profile" ON users
        FOR UPDATE USING (auth.uid() = id);

    CREATE POLICY "Anyone can view published posts" ON posts
        FOR SELECT USING (is_published = true);
    CREATE POLICY "Users can create posts" ON posts
        FOR INSERT WITH CHECK (auth.uid() = author_id);
    CREATE POLICY "Users can update own posts" ON posts
        FOR UPDATE USING (auth.uid() = author_id);
    CREATE POLICY "Users can delete own posts" ON posts
        FOR DELETE USING (auth.uid() = author_id);

    CREATE POLICY "Anyone can view comments" ON comments
        FOR SELECT USING (true);
    CREATE POLICY "Users can create comments" ON comments
        FOR INSERT WITH CHECK (auth.uid() = author_id);
    CREATE POLICY "Users can update own comments" ON comments
        FOR UPDATE USING (auth.uid() = author_id);
    CREATE POLICY "Users can delete own comments" ON comments
        FOR DELETE USING (auth.uid() = author_id);

    CREATE POLICY "Anyone can view questions" ON questions
        FOR SELECT USING (true);
    CREATE POLICY "Users can create questions" ON questions
        FOR INSERT WITH CHECK (auth.uid() = author_id);
    CREATE POLICY "Users can update own questions" ON questions
        FOR UPDATE USING (auth.uid() = author_id);
    CREATE POLICY "Users can delete own questions" ON questions
        FOR DELETE USING (auth.uid() = author_id);

    CREATE POLICY "Anyone can view answers" ON answers
        FOR SELECT USING (true);
    CREATE POLICY "Users can create answers" ON answers
        FOR INSERT WITH CHECK (auth.uid() = author_id);
    CREATE POLICY "Users can update own answers" ON answers
        FOR UPDATE USING (auth.uid() = author_id);
    CREATE POLICY "Users can delete own answers" ON answers
        FOR DELETE USING (auth.uid() = author_id);

    CREATE POLICY "Anyone can view public resources" ON resources
        FOR SELECT USING (is_public = true);
    CREATE POLICY "Users can view own resources" ON resources
        FOR SELECT USING (auth.uid() = author_id);
    CREATE POLICY "Users can create resources" ON resources
        FOR INSERT WITH CHECK (auth.uid() = author_id);
    CREATE POLICY "Users can update own resources" ON resources
        FOR UPDATE USING (auth.uid() = author_id);
    CREATE POLICY "Users can delete own resources" ON resources
        FOR DELETE USING (auth.uid() = author_id);

    -- ------------------------------------------- 6.1 updated_at triggers
    CREATE OR REPLACE FUNCTION update_updated_at_column()
    RETURNS TRIGGER AS $$
    BEGIN
        NEW.updated_at = NOW();
        RETURN NEW;
    END;
    $$ LANGUAGE plpgsql;

    CREATE TRIGGER update_users_updated_at BEFORE UPDATE ON users
        FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
    CREATE TRIGGER update_posts_updated_at BEFORE UPDATE ON posts
        FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
    CREATE TRIGGER update_comments_updated_at BEFORE UPDATE ON comments
        FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
    CREATE TRIGGER update_questions_updated_at BEFORE UPDATE ON questions
        FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
    CREATE TRIGGER update_answers_updated_at BEFORE UPDATE ON answers
        FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
    CREATE TRIGGER update_resources_updated_at BEFORE UPDATE ON resources
        FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

    -- ------------------------------------------------ 6.2 vote counts
    -- As written: dynamic SQL on votable_type || 's', votes_count on every
    -- target (posts and comments only have likes_count), SECURITY INVOKER.
    -- Replaced in 0003_seed_fixes.
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

    CREATE TRIGGER update_vote_counts_trigger
        AFTER INSERT OR UPDATE OR DELETE ON votes
        FOR EACH ROW EXECUTE FUNCTION update_vote_counts();

    -- --------------------------------------------- 6.3 comment counts
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

    CREATE TRIGGER update_comment_counts_trigger
        AFTER INSERT OR DELETE ON comments
        FOR EACH ROW EXECUTE FUNCTION update_comment_counts();

    SET LOCAL search_path TO DEFAULT;
    """)


def downgrade() -> None:
    run_sql("""
    SET LOCAL search_path = public;

    -- Dropping the tables drops their indexes, policies and triggers.
    DROP TABLE notifications, chat_room_participants, followers, votes, resources,
               chat_messages, chat_rooms, answers, ai_answers, questions, comments,
               posts, users;
    DROP FUNCTION update_comment_counts();
    DROP FUNCTION update_vote_counts();
    DROP FUNCTION update_updated_at_column();
    DROP TYPE notification_type, participant_role, vote_type, message_type, room_type,
              question_status, user_role;

    SET LOCAL search_path TO DEFAULT;
    """)
