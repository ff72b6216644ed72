"""SQL of the chat domain. Every statement runs under the caller's RLS policies."""

from __future__ import annotations

# A message as the API shows it. ``is_read``: every participant other than the
# sender has read up to it (for a direct room: the other person has). Expects
# a CTE ``reads(user_id, last_read_seq)`` holding the room's read positions.
MESSAGE_COLUMNS = """
    m.id, m.room_id, m.seq, m.sender_id, su.username AS sender_username, m.content,
    m.message_type::text AS message_type, m.file_url, m.created_at, m.edited_at, m.deleted_at
"""

# A participant's unread messages in a room after their read position: others' messages,
# neither deleted nor system ones, nor those of people they muted (0025). A muted room, or a
# message request not accepted yet (0031), has none: ``{quiet}`` says whether it is one.
# ``ROOMS`` and ``MARK_READ`` both count with it, so the two never disagree.
UNREAD_COUNT = """
           CASE WHEN {quiet} THEN 0 ELSE
           (SELECT count(*) FROM public.chat_messages u
             WHERE u.room_id = {room} AND u.seq > {read}
               AND u.sender_id <> {me} AND u.deleted_at IS NULL
               AND u.message_type <> 'system'
               AND NOT EXISTS (SELECT 1 FROM public.user_mutes um
                               WHERE um.muter_id = {me} AND um.muted_id = u.sender_id))
           END"""

# The caller's rooms with their last message, the caller's unread count and, for
# direct rooms, the other person: one statement whatever the page size.
# ``{where}`` adds the keyset or the single-room condition.
ROOMS = """
    SELECT r.id, r.type::text AS type, r.name, r.description, r.created_by, r.is_active,
           r.created_at, r.updated_at, r.last_activity_at, r.last_seq, r.last_event_seq,
           me.role::text AS my_role, me.last_read_seq,
           """ + UNREAD_COUNT.format(
    quiet="rm.room_id IS NOT NULL OR ci.room_id IS NOT NULL", room="r.id",
    read="me.last_read_seq", me="me.user_id") + """ AS unread_count,
           rm.room_id IS NOT NULL AS muted, ci.room_id IS NOT NULL AS request,
           lm.id AS lm_id, lm.seq AS lm_seq, lm.sender_id AS lm_sender_id,
           lm.sender_username AS lm_sender_username, lm.content AS lm_content,
           lm.message_type AS lm_message_type, lm.file_url AS lm_file_url,
           lm.created_at AS lm_created_at, lm.edited_at AS lm_edited_at,
           lm.deleted_at AS lm_deleted_at, lm.is_read AS lm_is_read,
           peer.id AS peer_id, peer.username AS peer_username, peer.full_name AS peer_full_name,
           peer.avatar_url AS peer_avatar_url
    FROM public.chat_room_participants me
    JOIN public.chat_rooms r ON r.id = me.room_id
    LEFT JOIN public.room_mutes rm ON rm.room_id = r.id AND rm.user_id = me.user_id
    LEFT JOIN public.chat_invitations ci ON ci.room_id = r.id AND ci.user_id = me.user_id
    LEFT JOIN LATERAL (
        SELECT m.id, m.seq, m.sender_id, su.username AS sender_username, m.content,
               m.message_type::text AS message_type, m.file_url, m.created_at, m.edited_at,
               m.deleted_at,
               coalesce((SELECT min(o.last_read_seq) FROM public.chat_room_participants o
                         WHERE o.room_id = r.id AND o.user_id <> m.sender_id) >= m.seq,
                        false) AS is_read
        FROM public.chat_messages m
        LEFT JOIN public.users su ON su.id = m.sender_id
        WHERE m.room_id = r.id
        ORDER BY m.seq DESC
        LIMIT 1
    ) lm ON true
    LEFT JOIN LATERAL (
        SELECT u.id, u.username, u.full_name, u.avatar_url
        FROM public.chat_room_participants o
        JOIN public.users u ON u.id = o.user_id
        WHERE r.type = 'direct' AND o.room_id = r.id AND o.user_id <> me.user_id
        LIMIT 1
    ) peer ON true
    WHERE me.user_id = auth.uid() {where}
    ORDER BY r.last_activity_at DESC, r.id DESC
    LIMIT :limit
"""

# Where a room of the caller belongs: their rooms, or their message requests (declined ones
# are in neither list).
IN_ROOMS = "AND ci.room_id IS NULL"
IN_REQUESTS = "AND ci.room_id IS NOT NULL AND ci.declined_at IS NULL"

# Group invitations, with their room and the people; ``{where}`` picks whose.
INVITATIONS = """
    SELECT i.room_id, r.name AS room_name, r.description AS room_description, i.role::text AS role,
           i.created_at,
           u.id AS user_id, u.username AS user_username, u.full_name AS user_full_name,
           u.avatar_url AS user_avatar_url,
           b.id AS by_id, b.username AS by_username, b.full_name AS by_full_name,
           b.avatar_url AS by_avatar_url
    FROM public.chat_invitations i
    JOIN public.chat_rooms r ON r.id = i.room_id AND r.type = 'group'
    JOIN public.users u ON u.id = i.user_id
    LEFT JOIN public.users b ON b.id = i.invited_by
    WHERE {where}
    ORDER BY i.created_at DESC, i.room_id DESC
    LIMIT :limit
"""

PARTICIPANTS = """
    SELECT p.user_id, u.username, u.full_name, u.avatar_url, p.role::text AS role,
           p.joined_at, p.last_read_seq
    FROM public.chat_room_participants p
    JOIN public.users u ON u.id = p.user_id
    WHERE p.room_id = :room_id {where}
    ORDER BY p.joined_at, p.user_id
"""

# Messages of one room; ``{where}`` and ``{order}`` pick the window.
MESSAGES = f"""
    WITH reads AS (
        SELECT p.user_id, p.last_read_seq FROM public.chat_room_participants p
        WHERE p.room_id = :room_id
    )
    SELECT {MESSAGE_COLUMNS},
           coalesce((SELECT min(r.last_read_seq) FROM reads r WHERE r.user_id <> m.sender_id)
                    >= m.seq, false) AS is_read
    FROM public.chat_messages m
    LEFT JOIN public.users su ON su.id = m.sender_id
    WHERE m.room_id = :room_id {{where}}
    ORDER BY m.seq {{order}}
    LIMIT :limit
"""

ONE_MESSAGE = f"""
    WITH reads AS (
        SELECT p.user_id, p.last_read_seq FROM public.chat_room_participants p
        WHERE p.room_id = (SELECT room_id FROM public.chat_messages WHERE id = :id)
    )
    SELECT {MESSAGE_COLUMNS},
           coalesce((SELECT min(r.last_read_seq) FROM reads r WHERE r.user_id <> m.sender_id)
                    >= m.seq, false) AS is_read
    FROM public.chat_messages m
    LEFT JOIN public.users su ON su.id = m.sender_id
    WHERE m.id = :id
"""

# A batch of messages, each as its sender (0034): {"results": [...], "events": [...]}.
SEND_MESSAGES = "SELECT CAST(public.chat_send_messages(CAST(:items AS jsonb)) AS text)"

# Move the caller's read position forward (``chat_mark_read()``, 0008) and count what is
# still unread as the room list does.
MARK_READ = """
    SELECT m.last_read_seq,""" + UNREAD_COUNT.format(
    quiet="EXISTS (SELECT 1 FROM public.room_mutes rm"
          " WHERE rm.room_id = :room_id AND rm.user_id = auth.uid())"
          " OR EXISTS (SELECT 1 FROM public.chat_invitations ci"
          " WHERE ci.room_id = :room_id AND ci.user_id = auth.uid())",
    room=":room_id", read="m.last_read_seq", me="auth.uid()") + """ AS unread_count
    FROM public.chat_mark_read(:room_id, :seq) m
"""

# The history for its export, a page at a time: the messages after :after up to :upto (the
# room's last message when the export began), in order.
EXPORT = """
    SELECT m.seq, m.created_at, m.content, m.message_type::text AS message_type, m.file_url,
           m.deleted_at, m.edited_at, su.username AS sender_username
    FROM public.chat_messages m
    LEFT JOIN public.users su ON su.id = m.sender_id
    WHERE m.room_id = :room_id AND m.seq > :after AND m.seq <= :upto
    ORDER BY m.seq
    LIMIT :limit
"""
EXPORT_UPTO = "SELECT coalesce(max(seq), 0) FROM public.chat_messages WHERE room_id = :room_id"

# The room events of the calling transaction, and on every row (at least one, whose event
# columns are NULL when there is no event) what the consent trigger noted of the
# transaction's invitations and requests (0031): one round trip before each commit.
TRANSACTION_EVENTS = """
    SELECT e.room_id, e.seq, e.type, e.payload, e.created_at, n.noted
    FROM (SELECT current_setting('focushub.tx_invitations', true) AS noted) n
    LEFT JOIN public.chat_transaction_events() e ON true
"""

# The gateway's catch-up: membership and the room's current event position together.
ROOM_POSITION = """
    SELECT public.is_room_member(:room_id) AS member,
           (SELECT last_event_seq FROM public.chat_rooms WHERE id = :room_id) AS current
"""

EVENTS_AFTER = """
    SELECT room_id, seq, type, payload, created_at FROM public.chat_room_events
    WHERE room_id = :room_id AND seq > :after AND seq <= :upto
    ORDER BY seq
    LIMIT :limit
"""
