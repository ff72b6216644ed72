"""Stored files (resources, later avatars and chat attachments), downloads counted once per day.

Revision ID: 0014_stored_files
Revises: 0013_job_queue

* ``stored_files``: one row per uploaded object. The object's key is chosen by
  the server; the row holds what the API serves it with (name, sniffed content
  type, size, SHA-256) and its preview. Visible to its owner, and to whoever may
  see a resource that uses it (the policy asks ``resources`` under the caller's
  own policies). Deleting a row (directly, through its resource, or with the
  account) queues its objects in ``storage_deletions``, which the
  ``files.purge`` job empties: the object store is never touched inside a
  transaction, and nothing is lost if the process dies.
* ``resources.file_id`` links a resource to its file (NULL for rows made before
  uploads existed, such as generated benchmark data); deleting the resource
  deletes the file. ``resources.extracted_text`` (written by the
  ``files.process`` job) joins the search vector with weight C, so search finds
  words inside uploaded notes.
* ``resource_downloads`` + ``record_resource_download()``: ``downloads_count``
  moves once per downloader per UTC day, exactly under concurrency (as views).
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0014_stored_files"
down_revision = "0013_job_queue"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    CREATE TABLE public.stored_files (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        owner_id uuid NOT NULL REFERENCES public.users(id) ON DELETE CASCADE,
        purpose text NOT NULL CONSTRAINT stored_files_purpose_check
            CHECK (purpose IN ('resource', 'avatar', 'attachment')),
        storage_key text NOT NULL UNIQUE,
        file_name varchar(255) NOT NULL CONSTRAINT stored_files_file_name_check
            CHECK (btrim(file_name) <> '' AND file_name !~ '[/\\\\[:cntrl:]]'),
        content_type text NOT NULL,
        size bigint NOT NULL CONSTRAINT stored_files_size_check CHECK (size > 0),
        sha256 text NOT NULL CONSTRAINT stored_files_sha256_check CHECK (sha256 ~ '^[0-9a-f]{64}$'),
        preview_status text NOT NULL DEFAULT 'pending' CONSTRAINT stored_files_preview_status_check
            CHECK (preview_status IN ('pending', 'ready', 'none', 'failed')),
        preview_key text,
        preview_text text CONSTRAINT stored_files_preview_text_length
            CHECK (char_length(preview_text) <= 4000),
        created_at timestamptz NOT NULL DEFAULT now()
    );
    COMMENT ON TABLE public.stored_files IS
        'Uploaded objects: server-chosen key, sniffed type, size, SHA-256, preview.';
    CREATE INDEX idx_stored_files_owner ON public.stored_files (owner_id, created_at DESC);
    ALTER TABLE public.stored_files ENABLE ROW LEVEL SECURITY;
    REVOKE ALL ON public.stored_files FROM PUBLIC, anon, authenticated, service_role;
    GRANT SELECT ON public.stored_files TO anon, authenticated;
    GRANT INSERT (owner_id, purpose, storage_key, file_name, content_type, size, sha256)
        ON public.stored_files TO authenticated;
    GRANT DELETE ON public.stored_files TO authenticated;
    GRANT ALL ON public.stored_files TO service_role;

    CREATE TABLE public.storage_deletions (
        storage_key text PRIMARY KEY,
        queued_at timestamptz NOT NULL DEFAULT now()
    );
    COMMENT ON TABLE public.storage_deletions IS
        'Objects whose row is gone, waiting for the files.purge job to delete them.';
    ALTER TABLE public.storage_deletions ENABLE ROW LEVEL SECURITY;
    REVOKE ALL ON public.storage_deletions FROM PUBLIC, anon, authenticated, service_role;
    GRANT ALL ON public.storage_deletions TO service_role;

    CREATE FUNCTION public.queue_storage_deletion() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        INSERT INTO storage_deletions (storage_key) VALUES (OLD.storage_key)
        ON CONFLICT DO NOTHING;
        IF OLD.preview_key IS NOT NULL THEN
            INSERT INTO storage_deletions (storage_key) VALUES (OLD.preview_key)
            ON CONFLICT DO NOTHING;
        END IF;
        RETURN NULL;
    END
    $$;
    REVOKE ALL ON FUNCTION public.queue_storage_deletion() FROM PUBLIC, anon, authenticated, service_role;
    CREATE TRIGGER queue_storage_deletion_trigger
        AFTER DELETE ON public.stored_files
        FOR EACH ROW EXECUTE FUNCTION public.queue_storage_deletion();

    ALTER TABLE public.resources
        ADD COLUMN file_id uuid UNIQUE REFERENCES public.stored_files(id) ON DELETE CASCADE,
        ADD COLUMN extracted_text text CONSTRAINT resources_extracted_text_length
            CHECK (char_length(extracted_text) <= 200000);
    COMMENT ON COLUMN public.resources.file_id IS
        'The uploaded file; NULL for resources made before uploads (file_url is then external).';
    COMMENT ON COLUMN public.resources.extracted_text IS
        'Text of the file (PDF, text), bounded; written by the files.process job; searched.';
    DROP INDEX public.idx_resources_search;
    ALTER TABLE public.resources DROP COLUMN search_vector;
    ALTER TABLE public.resources ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A') ||
        setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'B') ||
        setweight(to_tsvector('english'::regconfig, coalesce(left(extracted_text, 100000), '')), 'C')
    ) STORED;
    CREATE INDEX idx_resources_search ON public.resources USING GIN (search_vector);
    CREATE INDEX idx_resources_public_new ON public.resources (created_at DESC, id DESC)
        WHERE is_public;
    CREATE INDEX idx_resources_author_new ON public.resources (author_id, created_at DESC, id DESC);
    CREATE INDEX idx_resources_downloads ON public.resources (downloads_count DESC, id DESC)
        WHERE is_public;

    -- A resource takes its file with it.
    CREATE FUNCTION public.delete_resource_file() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        IF OLD.file_id IS NOT NULL THEN
            DELETE FROM stored_files WHERE id = OLD.file_id;
        END IF;
        RETURN NULL;
    END
    $$;
    REVOKE ALL ON FUNCTION public.delete_resource_file() FROM PUBLIC, anon, authenticated, service_role;
    CREATE TRIGGER delete_resource_file_trigger
        AFTER DELETE ON public.resources
        FOR EACH ROW EXECUTE FUNCTION public.delete_resource_file();

    -- A resource's file is the author's own upload, and it stays the same file.
    CREATE FUNCTION public.check_resource_file() RETURNS trigger
    LANGUAGE plpgsql SET search_path = public, pg_temp
    AS $$
    BEGIN
        IF current_user IN ('anon', 'authenticated') AND NEW.file_id IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM stored_files f WHERE f.id = NEW.file_id
                           AND f.owner_id = NEW.author_id AND f.purpose = 'resource') THEN
            RAISE EXCEPTION 'forbidden: a resource holds its author''s own uploaded file';
        END IF;
        RETURN NEW;
    END
    $$;
    CREATE TRIGGER check_resource_file_trigger
        BEFORE INSERT ON public.resources
        FOR EACH ROW EXECUTE FUNCTION public.check_resource_file();
    GRANT INSERT (id, file_id) ON public.resources TO authenticated;

    CREATE POLICY "Users can view own files" ON public.stored_files
        FOR SELECT TO authenticated USING (owner_id = auth.uid());
    CREATE POLICY "Anyone can view files of visible resources" ON public.stored_files
        FOR SELECT TO anon, authenticated
        USING (EXISTS (SELECT 1 FROM public.resources r WHERE r.file_id = stored_files.id));
    CREATE POLICY "Anyone can view avatars" ON public.stored_files
        FOR SELECT TO anon, authenticated USING (purpose = 'avatar');
    CREATE POLICY "Users can upload files" ON public.stored_files
        FOR INSERT TO authenticated WITH CHECK (owner_id = auth.uid());
    CREATE POLICY "Users can delete own files" ON public.stored_files
        FOR DELETE TO authenticated USING (owner_id = auth.uid());

    CREATE TABLE public.resource_downloads (
        resource_id uuid NOT NULL REFERENCES public.resources(id) ON DELETE CASCADE,
        downloader_key text NOT NULL CONSTRAINT resource_downloads_key_length
            CHECK (char_length(downloader_key) BETWEEN 1 AND 64),
        day date NOT NULL,
        PRIMARY KEY (resource_id, downloader_key, day)
    );
    CREATE INDEX idx_resource_downloads_day ON public.resource_downloads (day);
    ALTER TABLE public.resource_downloads ENABLE ROW LEVEL SECURITY;
    REVOKE ALL ON public.resource_downloads FROM PUBLIC, anon, authenticated, service_role;
    GRANT ALL ON public.resource_downloads TO service_role;

    -- Count one download of a resource the caller may see, once per downloader per UTC
    -- day; true when counted. Signed-in callers are keyed by their id whatever they pass.
    CREATE FUNCTION public.record_resource_download(p_resource_id uuid, p_key text)
    RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        downloader text;
    BEGIN
        IF auth.uid() IS NOT NULL THEN
            downloader := auth.uid()::text;
        ELSIF p_key ~ '^anon:[0-9a-f]{32}$' THEN
            downloader := p_key;
        ELSE
            RAISE EXCEPTION
                'validation_error: an anonymous downloader key is ''anon:'' and 32 hex digits';
        END IF;
        INSERT INTO resource_downloads (resource_id, downloader_key, day)
        SELECT r.id, downloader, (now() AT TIME ZONE 'UTC')::date
        FROM resources r
        WHERE r.id = p_resource_id AND (r.is_public OR r.author_id = auth.uid())
        ON CONFLICT DO NOTHING;
        IF NOT FOUND THEN
            RETURN false;
        END IF;
        UPDATE resources SET downloads_count = downloads_count + 1 WHERE id = p_resource_id;
        RETURN true;
    END
    $$;
    REVOKE ALL ON FUNCTION public.record_resource_download(uuid, text)
        FROM PUBLIC, anon, authenticated, service_role;
    GRANT EXECUTE ON FUNCTION public.record_resource_download(uuid, text) TO anon, authenticated;
    """)


def downgrade() -> None:
    run_sql("""
    DROP POLICY "Anyone can view files of visible resources" ON public.stored_files;
    DROP FUNCTION public.record_resource_download(uuid, text);
    DROP TABLE public.resource_downloads;
    REVOKE INSERT (id, file_id) ON public.resources FROM authenticated;
    DROP TRIGGER check_resource_file_trigger ON public.resources;
    DROP FUNCTION public.check_resource_file();
    DROP TRIGGER delete_resource_file_trigger ON public.resources;
    DROP FUNCTION public.delete_resource_file();
    DROP INDEX public.idx_resources_downloads;
    DROP INDEX public.idx_resources_author_new;
    DROP INDEX public.idx_resources_public_new;
    DROP INDEX public.idx_resources_search;
    ALTER TABLE public.resources DROP COLUMN search_vector;
    ALTER TABLE public.resources ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A') ||
        setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'B')
    ) STORED;
    CREATE INDEX idx_resources_search ON public.resources USING GIN (search_vector);
    ALTER TABLE public.resources DROP COLUMN extracted_text, DROP COLUMN file_id;
    DROP TABLE public.stored_files;
    DROP FUNCTION public.queue_storage_deletion();
    DROP TABLE public.storage_deletions;
    """)
