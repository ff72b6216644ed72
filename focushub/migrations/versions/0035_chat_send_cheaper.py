"""A chat message costs the database less: cached plans, and a batch pays for what it shares.

Revision ID: 0035_chat_send_cheaper
Revises: 0034_chat_group_commit

Measured on a batch of 50 (``docs/performance.md``), about half of a message's database
time went to functions planned again at every call: PostgreSQL 15 plans the body of a SQL function that
it cannot inline (every ``SECURITY DEFINER`` or ``SET search_path`` one) again at each
statement that calls it, whereas PL/pgSQL keeps its plans for the session (PostgreSQL 18
caches SQL functions' plans as well; there the gain is smaller). A message
called ``is_room_member()`` six times (its own check, and the read-back's scan of the
participants under their SELECT policy), ``session_is_active()`` and
``chat_message_json()`` once each, all planned afresh.

* ``is_room_member()``, ``session_is_active()``, ``chat_message_json()``,
  ``blocked_between()`` and ``chat_transaction_events()`` are the same queries in
  PL/pgSQL: same results, same rights, same ``search_path``. Every path that calls them
  (each request's session check, chat policies, the insert triggers) gains.
* ``chat_send_messages()`` keeps its contract (0034) and does less per item:
  - the role (``authenticated``) is set once for the batch, and the claims only when an
    item's sender or claims differ from the previous item's;
  - items run in one subtransaction per run instead of one each: when an item fails, the
    run is rolled back, the item's error is kept, the items before it in the run are sent
    again as a run of their own and the batch goes on after it. A failing item still
    leaves nothing and the others are written; rooms are still locked in sorted order;
  - the read-back is one query for the batch, after the role is back to
    ``service_role``, by the ids ``chat_send_message()`` returned: the same fields, and
    ``is_read`` from the participants without checking each one against the sender's
    SELECT policy (the sender is a member of the room, having just written in it).
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0035_chat_send_cheaper"
down_revision = "0034_chat_group_commit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    CREATE OR REPLACE FUNCTION public.is_room_member(p_room_id uuid) RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        RETURN EXISTS (
            SELECT 1 FROM public.chat_room_participants p
            WHERE p.room_id = p_room_id AND p.user_id = auth.uid()
        );
    END
    $$;

    CREATE OR REPLACE FUNCTION public.session_is_active(p_session uuid, p_user uuid)
    RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        RETURN p_session IS NULL OR (
            EXISTS (SELECT 1 FROM focushub_auth.refresh_tokens t
                    WHERE t.family_id = p_session AND t.user_id = p_user AND t.revoked_at IS NULL)
            AND EXISTS (SELECT 1 FROM public.users u WHERE u.id = p_user AND u.is_active
                    AND (u.suspended_until IS NULL OR u.suspended_until <= now())));
    END
    $$;

    CREATE OR REPLACE FUNCTION public.chat_message_json(m public.chat_messages) RETURNS jsonb
    LANGUAGE plpgsql STABLE SET search_path = public, pg_temp
    AS $$
    BEGIN
        RETURN jsonb_build_object(
            'id', m.id, 'room_id', m.room_id, 'seq', m.seq, 'sender_id', m.sender_id,
            'content', m.content, 'message_type', m.message_type, 'file_url', m.file_url,
            'created_at', m.created_at, 'edited_at', m.edited_at, 'deleted_at', m.deleted_at)
            || jsonb_build_object('sender_username',
                                  (SELECT u.username FROM users u WHERE u.id = m.sender_id));
    END
    $$;

    CREATE OR REPLACE FUNCTION public.blocked_between(p_a uuid, p_b uuid) RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        RETURN EXISTS (SELECT 1 FROM user_blocks
                       WHERE (blocker_id = p_a AND blocked_id = p_b)
                          OR (blocker_id = p_b AND blocked_id = p_a));
    END
    $$;

    CREATE OR REPLACE FUNCTION public.chat_transaction_events()
    RETURNS TABLE (room_id uuid, seq bigint, type text, payload jsonb, created_at timestamptz)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    #variable_conflict use_column
    BEGIN
        RETURN QUERY
        SELECT e.room_id, e.seq, e.type, e.payload, e.created_at
        FROM unnest(string_to_array(
                 rtrim(coalesce(current_setting('focushub.tx_room_events', true), ''), ','), ','))
             WITH ORDINALITY AS k(item, ord)
        JOIN chat_room_events e
          ON e.room_id = split_part(k.item, ':', 1)::uuid
         AND e.seq = split_part(k.item, ':', 2)::bigint
        WHERE e.xact_id = pg_current_xact_id_if_assigned()
        ORDER BY k.ord;
    END
    $$;

    -- SECURITY INVOKER and without a SET clause on purpose (see 0034).
    CREATE OR REPLACE FUNCTION public.chat_send_messages(p_items jsonb) RETURNS jsonb
    LANGUAGE plpgsql
    AS $$
    DECLARE
        items jsonb[];        -- in the order they are sent: by room, then as given
        ords bigint[];        -- each one's place in p_items
        n integer;
        sent uuid[];          -- the message each item sent, NULL while it has none
        failed boolean[];
        errors jsonb[] := '{}';
        run_start integer := 1;
        run_stop integer;
        cur integer;
        v jsonb;
        msg public.chat_messages;
        claims_set jsonb;     -- the claims and subject the transaction carries now
        sub_set text;
        err_state text;
        err_message text;
        err_constraint text;
        results jsonb;
    BEGIN
        IF current_user <> 'service_role' THEN
            RAISE EXCEPTION 'forbidden: only the server sends messages in batches';
        END IF;
        IF jsonb_typeof(p_items) <> 'array' THEN
            RAISE EXCEPTION 'validation_error: the batch is a JSON array';
        END IF;
        SELECT array_agg(i.value ORDER BY i.value ->> 'room_id', i.ord),
               array_agg(i.ord ORDER BY i.value ->> 'room_id', i.ord)
        INTO items, ords
        FROM jsonb_array_elements(p_items) WITH ORDINALITY AS i(value, ord);
        n := coalesce(array_length(items, 1), 0);
        sent := array_fill(NULL::uuid, ARRAY[n]);
        failed := array_fill(false, ARRAY[n]);
        -- Every item is sent as an authenticated user: set once, outside the runs, so
        -- that no rolled-back run takes it back.
        PERFORM pg_catalog.set_config('role', 'authenticated', true),
                pg_catalog.set_config('request.jwt.claim.role', 'authenticated', true);
        run_stop := n;
        -- A run is one subtransaction. When an item of it fails, everything the run
        -- wrote is undone: the item is marked failed with its error, the items before
        -- it are sent again as a run of their own, and the next run starts after it.
        -- Each failure marks one more item, so the loop ends; an item is sent at most
        -- twice unless the database changes under the batch.
        WHILE run_start <= n LOOP
            BEGIN
                FOR k IN run_start..run_stop LOOP
                    CONTINUE WHEN failed[k];
                    cur := k;
                    v := items[k];
                    IF v -> 'claims' IS DISTINCT FROM claims_set
                       OR v ->> 'sub' IS DISTINCT FROM sub_set THEN
                        PERFORM pg_catalog.set_config('request.jwt.claims', (
                                    -- The claims as given, but never another role or subject.
                                    coalesce(v -> 'claims', '{}'::jsonb)
                                    || jsonb_build_object('role', 'authenticated',
                                                          'sub', v ->> 'sub')
                                )::text, true),
                                pg_catalog.set_config('request.jwt.claim.sub', v ->> 'sub', true);
                        claims_set := v -> 'claims';
                        sub_set := v ->> 'sub';
                    END IF;
                    IF NOT public.session_is_active(CAST(v ->> 'session' AS uuid),
                                                    CAST(v ->> 'sub' AS uuid)) THEN
                        RAISE EXCEPTION 'session_ended: This session has ended; sign in again';
                    END IF;
                    SELECT * INTO msg FROM public.chat_send_message(
                        CAST(v ->> 'room_id' AS uuid), v ->> 'content',
                        CAST(v ->> 'message_type' AS public.message_type),
                        CAST(v ->> 'file_id' AS uuid), v ->> 'key');
                    sent[k] := msg.id;
                END LOOP;
                run_start := run_stop + 1;
                run_stop := n;
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE,
                                        err_message = MESSAGE_TEXT,
                                        err_constraint = CONSTRAINT_NAME;
                failed[cur] := true;
                errors := errors || jsonb_build_object(
                    'ord', ords[cur], 'sqlstate', err_state, 'error', err_message,
                    'constraint', nullif(err_constraint, ''));
                FOR k IN run_start..cur - 1 LOOP
                    sent[k] := NULL;
                END LOOP;
                -- The run's claims were rolled back with it.
                claims_set := NULL;
                sub_set := NULL;
                IF cur > run_start THEN
                    run_stop := cur - 1;
                ELSE
                    run_start := cur + 1;
                    run_stop := n;
                END IF;
            END;
        END LOOP;
        PERFORM pg_catalog.set_config('role', 'service_role', true),
                pg_catalog.set_config('request.jwt.claims', '{"role": "service_role"}', true),
                pg_catalog.set_config('request.jwt.claim.sub', '', true),
                pg_catalog.set_config('request.jwt.claim.role', 'service_role', true);
        -- What each sender reads back: the message as GET .../messages shows it. The
        -- arrays are read through sub-selects so that the plan does not depend on
        -- their length: PL/pgSQL then keeps one plan instead of planning it per batch.
        SELECT coalesce(jsonb_agg(r.body ORDER BY r.ord), '[]'::jsonb) INTO results
        FROM (
            SELECT s.ord, jsonb_build_object('ord', s.ord, 'message', jsonb_build_object(
                       'id', m.id, 'room_id', m.room_id, 'seq', m.seq,
                       'sender_id', m.sender_id, 'sender_username', su.username,
                       'content', m.content, 'message_type', m.message_type,
                       'file_url', m.file_url, 'created_at', m.created_at,
                       'edited_at', m.edited_at, 'deleted_at', m.deleted_at,
                       'is_read', coalesce((
                           SELECT min(p.last_read_seq) FROM public.chat_room_participants p
                           WHERE p.room_id = m.room_id AND p.user_id <> m.sender_id
                       ) >= m.seq, false))) AS body
            FROM unnest((SELECT ords), (SELECT sent)) AS s(ord, id)
            JOIN public.chat_messages m ON m.id = s.id
            LEFT JOIN public.users su ON su.id = m.sender_id
            UNION ALL
            SELECT (e.value ->> 'ord')::bigint, e.value FROM unnest((SELECT errors)) AS e(value)
        ) r;
        RETURN jsonb_build_object(
            'results', results,
            'events', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                 'room_id', e.room_id, 'seq', e.seq, 'type', e.type,
                                 'payload', e.payload, 'created_at', e.created_at)
                                 ORDER BY e.ord), '[]'::jsonb)
                       FROM public.chat_transaction_events()
                            WITH ORDINALITY AS e(room_id, seq, type, payload, created_at, ord)));
    END
    $$;
    COMMENT ON FUNCTION public.chat_send_messages(jsonb) IS
        'Group commit of chat messages: each item sent as its own sender; one that fails leaves nothing and fails alone (service_role only).';
    """)


def downgrade() -> None:
    run_sql("""
    CREATE OR REPLACE FUNCTION public.is_room_member(p_room_id uuid) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        SELECT EXISTS (
            SELECT 1 FROM public.chat_room_participants p
            WHERE p.room_id = p_room_id AND p.user_id = auth.uid()
        )
    $$;

    CREATE OR REPLACE FUNCTION public.session_is_active(p_session uuid, p_user uuid)
    RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        SELECT p_session IS NULL OR (
            EXISTS (SELECT 1 FROM focushub_auth.refresh_tokens t
                    WHERE t.family_id = p_session AND t.user_id = p_user AND t.revoked_at IS NULL)
            AND EXISTS (SELECT 1 FROM public.users u WHERE u.id = p_user AND u.is_active
                    AND (u.suspended_until IS NULL OR u.suspended_until <= now())))
    $$;

    CREATE OR REPLACE FUNCTION public.chat_message_json(m public.chat_messages) RETURNS jsonb
    LANGUAGE sql STABLE SET search_path = public, pg_temp
    AS $$
        SELECT jsonb_build_object(
            'id', m.id, 'room_id', m.room_id, 'seq', m.seq, 'sender_id', m.sender_id,
            'content', m.content, 'message_type', m.message_type, 'file_url', m.file_url,
            'created_at', m.created_at, 'edited_at', m.edited_at, 'deleted_at', m.deleted_at)
            || jsonb_build_object('sender_username',
                                  (SELECT u.username FROM users u WHERE u.id = m.sender_id))
    $$;

    CREATE OR REPLACE FUNCTION public.blocked_between(p_a uuid, p_b uuid) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        SELECT EXISTS (SELECT 1 FROM user_blocks
                       WHERE (blocker_id = p_a AND blocked_id = p_b)
                          OR (blocker_id = p_b AND blocked_id = p_a))
    $$;

    CREATE OR REPLACE FUNCTION public.chat_transaction_events()
    RETURNS TABLE (room_id uuid, seq bigint, type text, payload jsonb, created_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        SELECT e.room_id, e.seq, e.type, e.payload, e.created_at
        FROM unnest(string_to_array(
                 rtrim(coalesce(current_setting('focushub.tx_room_events', true), ''), ','), ','))
             WITH ORDINALITY AS k(item, ord)
        JOIN chat_room_events e
          ON e.room_id = split_part(k.item, ':', 1)::uuid
         AND e.seq = split_part(k.item, ':', 2)::bigint
        WHERE e.xact_id = pg_current_xact_id_if_assigned()
        ORDER BY k.ord
    $$;
    """)
    run_sql(_SEND_MESSAGES_0034 + """
    COMMENT ON FUNCTION public.chat_send_messages(jsonb) IS
        'Group commit of chat messages: each item sent as its own sender in its own subtransaction (service_role only).';
    """)


# chat_send_messages() as 0034 wrote it.
_SEND_MESSAGES_0034 = """
    CREATE OR REPLACE FUNCTION public.chat_send_messages(p_items jsonb) RETURNS jsonb
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
"""
