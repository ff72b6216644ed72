"""Chat messages that arrive together are written together, each as its own sender.

Revision ID: 0034_chat_group_commit
Revises: 0033_export_jobs

``public.chat_send_messages(p_items jsonb)`` sends a batch of messages in the
calling transaction, one item after another, and returns one result per item and
the room events the batch wrote:

* Each item (``{"sub", "claims", "session", "room_id", "content", "message_type",
  "file_id", "key"}``) is sent as its sender: the function switches the transaction to
  the ``authenticated`` role with that sender's JWT claims (``set_config(..., true)``, as
  the server does at the start of every request; the claims' ``role`` and ``sub`` are
  always ``authenticated`` and the item's ``sub``), checks that the sender's session is
  live (``session_is_active()``), and calls ``chat_send_message()``, so RLS and the
  chat functions decide exactly as for a message sent alone.
* Each item runs in its own subtransaction (a ``BEGIN ... EXCEPTION`` block): one that
  fails (not in the room, an archived room, a blocked recipient) leaves nothing and
  reports its SQLSTATE, message and constraint; the others are written.
* Items are taken in room order (then in the order given), so two batches that lock
  the same rooms lock them in the same order and never deadlock.
* At the end the role is back to ``service_role``, and the result carries
  ``chat_transaction_events()``: ``{"results": [...], "events": [...]}``, results in the
  order given.

Only ``service_role`` may call it (the server's group commit: one transaction, one
statement and one commit for many senders); a client role could otherwise claim to be
anyone. Items may only be sent as ``authenticated`` users.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0034_chat_group_commit"
down_revision = "0033_export_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    -- SECURITY INVOKER and without a SET clause on purpose: switching roles is refused
    -- inside a SECURITY DEFINER function, and every name below is schema-qualified.
    CREATE FUNCTION public.chat_send_messages(p_items jsonb) RETURNS jsonb
    LANGUAGE plpgsql
    AS $$
    DECLARE
        item record;
        msg public.chat_messages;
        results jsonb[] := '{}';
        out_message jsonb;
        err_state text;
        err_message text;
        err_constraint text;
    BEGIN
        IF current_user <> 'service_role' THEN
            RAISE EXCEPTION 'forbidden: only the server sends messages in batches';
        END IF;
        IF jsonb_typeof(p_items) <> 'array' THEN
            RAISE EXCEPTION 'validation_error: the batch is a JSON array';
        END IF;
        FOR item IN
            SELECT i.value AS v, i.ord
            FROM jsonb_array_elements(p_items) WITH ORDINALITY AS i(value, ord)
            ORDER BY i.value ->> 'room_id', i.ord
        LOOP
            BEGIN
                PERFORM pg_catalog.set_config('role', 'authenticated', true),
                        -- The claims as given, but never another role or subject.
                        pg_catalog.set_config('request.jwt.claims', (
                            coalesce(item.v -> 'claims', '{}'::jsonb)
                            || jsonb_build_object('role', 'authenticated', 'sub', item.v ->> 'sub')
                        )::text, true),
                        pg_catalog.set_config('request.jwt.claim.sub', item.v ->> 'sub', true),
                        pg_catalog.set_config('request.jwt.claim.role', 'authenticated', true);
                IF NOT public.session_is_active(CAST(item.v ->> 'session' AS uuid),
                                                CAST(item.v ->> 'sub' AS uuid)) THEN
                    RAISE EXCEPTION 'session_ended: This session has ended; sign in again';
                END IF;
                SELECT * INTO msg FROM public.chat_send_message(
                    CAST(item.v ->> 'room_id' AS uuid), item.v ->> 'content',
                    CAST(item.v ->> 'message_type' AS public.message_type),
                    CAST(item.v ->> 'file_id' AS uuid), item.v ->> 'key');
                -- What the sender reads back: the message as GET .../messages shows it.
                SELECT jsonb_build_object(
                           'id', msg.id, 'room_id', msg.room_id, 'seq', msg.seq,
                           'sender_id', msg.sender_id, 'sender_username', su.username,
                           'content', msg.content, 'message_type', msg.message_type,
                           'file_url', msg.file_url, 'created_at', msg.created_at,
                           'edited_at', msg.edited_at, 'deleted_at', msg.deleted_at,
                           'is_read', coalesce((
                               SELECT min(p.last_read_seq) FROM public.chat_room_participants p
                               WHERE p.room_id = msg.room_id AND p.user_id <> msg.sender_id
                           ) >= msg.seq, false))
                INTO out_message
                FROM (SELECT 1) one
                LEFT JOIN public.users su ON su.id = msg.sender_id;
                results := results || jsonb_build_object('ord', item.ord, 'message', out_message);
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE,
                                        err_message = MESSAGE_TEXT,
                                        err_constraint = CONSTRAINT_NAME;
                results := results || jsonb_build_object(
                    'ord', item.ord, 'sqlstate', err_state, 'error', err_message,
                    'constraint', nullif(err_constraint, ''));
            END;
        END LOOP;
        PERFORM pg_catalog.set_config('role', 'service_role', true),
                pg_catalog.set_config('request.jwt.claims', '{"role": "service_role"}', true),
                pg_catalog.set_config('request.jwt.claim.sub', '', true),
                pg_catalog.set_config('request.jwt.claim.role', 'service_role', true);
        RETURN jsonb_build_object(
            'results', (SELECT coalesce(jsonb_agg(r.value ORDER BY (r.value ->> 'ord')::int),
                                        '[]'::jsonb)
                        FROM unnest(results) AS r(value)),
            'events', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                 'room_id', e.room_id, 'seq', e.seq, 'type', e.type,
                                 'payload', e.payload, 'created_at', e.created_at)
                                 ORDER BY e.ord), '[]'::jsonb)
                       FROM public.chat_transaction_events()
                            WITH ORDINALITY AS e(room_id, seq, type, payload, created_at, ord)));
    END
    $$;
    COMMENT ON FUNCTION public.chat_send_messages(jsonb) IS
        'Group commit of chat messages: each item sent as its own sender in its own subtransaction (service_role only).';
    REVOKE ALL ON FUNCTION public.chat_send_messages(jsonb) FROM PUBLIC, anon, authenticated;
    GRANT EXECUTE ON FUNCTION public.chat_send_messages(jsonb) TO service_role;
    """)


def downgrade() -> None:
    run_sql("DROP FUNCTION public.chat_send_messages(jsonb);")
