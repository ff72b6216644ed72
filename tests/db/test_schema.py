"""The seed document, object by object, is in the database under its own names; so are the fixes.

The lists below are written from the seed (seeds/000_9ea80d68551bfa34.txt)
and from 0003_seed_fixes; each test compares one list with the catalogs.
Nullability is the state after the fixes (docs/schema.md, D13).
"""

from __future__ import annotations

import json
import uuid

import pytest

from tests.db.helpers import make_resource, make_user

UUID, TEXT, BOOL, INT, TSTZ = "uuid", "text", "boolean", "integer", "timestamp with time zone"
VC255, VC50 = "character varying(255)", "character varying(50)"
NOW, GEN = "now()", "gen_random_uuid()"

# (column, type, NOT NULL, default) in seed order; search_vector and
# last_read_at are the two columns 0003 adds.
COLUMNS: dict[str, list[tuple[str, str, bool, str | None]]] = {
    "users": [
        ("id", UUID, True, GEN),
        ("email", VC255, True, None),
        ("full_name", VC255, True, None),
        ("username", VC50, True, None),
        ("avatar_url", TEXT, False, None),
        ("bio", TEXT, False, None),
        ("role", "user_role", True, "'student'::user_role"),
        ("is_verified", BOOL, True, "false"),
        ("is_active", BOOL, True, "true"),
        ("last_login", TSTZ, False, None),
        ("created_at", TSTZ, True, NOW),
        ("updated_at", TSTZ, True, NOW),
    ],
    "posts": [
        ("id", UUID, True, GEN),
        ("author_id", UUID, True, None),
        ("title", VC255, True, None),
        ("content", TEXT, True, None),
        ("category", VC50, False, None),
        ("tags", "text[]", False, None),
        ("likes_count", INT, True, "0"),
        ("comments_count", INT, True, "0"),
        ("is_published", BOOL, True, "true"),
        ("created_at", TSTZ, True, NOW),
        ("updated_at", TSTZ, True, NOW),
        ("search_vector", "tsvector", False, None),
    ],
    "comments": [
        ("id", UUID, True, GEN),
        ("post_id", UUID, True, None),
        ("author_id", UUID, True, None),
        ("parent_id", UUID, False, None),
        ("content", TEXT, True, None),
        ("likes_count", INT, True, "0"),
        ("created_at", TSTZ, True, NOW),
        ("updated_at", TSTZ, True, NOW),
    ],
    "questions": [
        ("id", UUID, True, GEN),
        ("author_id", UUID, True, None),
        ("title", VC255, True, None),
        ("content", TEXT, True, None),
        ("category", VC50, False, None),
        ("tags", "text[]", False, None),
        ("status", "question_status", True, "'open'::question_status"),
        ("votes_count", INT, True, "0"),
        ("answers_count", INT, True, "0"),
        ("views_count", INT, True, "0"),
        ("created_at", TSTZ, True, NOW),
        ("updated_at", TSTZ, True, NOW),
        ("search_vector", "tsvector", False, None),
    ],
    "ai_answers": [
        ("id", UUID, True, GEN),
        ("question_id", UUID, True, None),
        ("answer_text", TEXT, True, None),
        ("confidence_score", "numeric(3,2)", False, None),
        ("model_used", TEXT, False, None),
        ("tokens_used", INT, False, None),
        ("processing_time_ms", INT, False, None),
        ("relevance_score", "numeric(3,2)", False, None),
        ("completeness_score", "numeric(3,2)", False, None),
        ("user_feedback_rating", INT, False, None),
        ("generation_attempts", INT, True, "1"),
        ("created_at", TSTZ, True, NOW),
    ],
    "answers": [
        ("id", UUID, True, GEN),
        ("question_id", UUID, True, None),
        ("author_id", UUID, True, None),
        ("content", TEXT, True, None),
        ("is_accepted", BOOL, True, "false"),
        ("votes_count", INT, True, "0"),
        ("created_at", TSTZ, True, NOW),
        ("updated_at", TSTZ, True, NOW),
    ],
    "chat_rooms": [
        ("id", UUID, True, GEN),
        ("name", VC255, True, None),
        ("description", TEXT, False, None),
        ("type", "room_type", True, "'group'::room_type"),
        # Nullable since 0022: a room outlives the account of its creator.
        ("created_by", UUID, False, None),
        ("is_active", BOOL, True, "true"),
        ("created_at", TSTZ, True, NOW),
        ("updated_at", TSTZ, True, NOW),
    ],
    "chat_messages": [
        ("id", UUID, True, GEN),
        ("room_id", UUID, True, None),
        ("sender_id", UUID, True, None),
        ("content", TEXT, True, None),
        ("message_type", "message_type", True, "'text'::message_type"),
        ("file_url", TEXT, False, None),
        ("is_read", BOOL, True, "false"),
        ("created_at", TSTZ, True, NOW),
    ],
    "resources": [
        ("id", UUID, True, GEN),
        ("title", VC255, True, None),
        ("description", TEXT, False, None),
        ("author_id", UUID, True, None),
        ("file_url", TEXT, True, None),
        ("file_name", VC255, True, None),
        ("file_size", "bigint", True, None),
        ("file_type", VC50, True, None),
        ("category", VC50, False, None),
        ("tags", "text[]", False, None),
        ("downloads_count", INT, True, "0"),
        ("is_public", BOOL, True, "true"),
        ("created_at", TSTZ, True, NOW),
        ("updated_at", TSTZ, True, NOW),
        ("search_vector", "tsvector", False, None),
    ],
    "votes": [
        ("id", UUID, True, GEN),
        ("user_id", UUID, True, None),
        ("votable_type", "character varying(20)", True, None),
        ("votable_id", UUID, True, None),
        ("vote_type", "vote_type", True, None),
        ("created_at", TSTZ, True, NOW),
    ],
    "followers": [
        ("id", UUID, True, GEN),
        ("follower_id", UUID, True, None),
        ("following_id", UUID, True, None),
        ("created_at", TSTZ, True, NOW),
    ],
    "chat_room_participants": [
        ("id", UUID, True, GEN),
        ("room_id", UUID, True, None),
        ("user_id", UUID, True, None),
        ("role", "participant_role", True, "'member'::participant_role"),
        ("joined_at", TSTZ, True, NOW),
        ("last_read_at", TSTZ, False, None),
    ],
    "notifications": [
        ("id", UUID, True, GEN),
        ("user_id", UUID, True, None),
        ("type", "notification_type", True, None),
        ("title", VC255, True, None),
        ("message", TEXT, True, None),
        ("data", "jsonb", False, None),
        ("is_read", BOOL, True, "false"),
        ("created_at", TSTZ, True, NOW),
    ],
}

ENUMS = {
    "user_role": ["student", "educator", "admin"],
    "question_status": ["open", "answered", "closed"],
    "room_type": ["direct", "group"],
    "message_type": ["text", "image", "file", "system"],
    "vote_type": ["upvote", "downvote"],
    "participant_role": ["member", "moderator", "admin"],
    "notification_type": ["like", "comment", "follow", "answer", "mention", "system"],
}

# Section 3.2: (table, column) -> (referenced table, ON DELETE)
FOREIGN_KEYS = {
    ("posts", "author_id"): ("users", "CASCADE"),
    ("comments", "post_id"): ("posts", "CASCADE"),
    ("comments", "author_id"): ("users", "CASCADE"),
    ("comments", "parent_id"): ("comments", "CASCADE"),
    ("questions", "author_id"): ("users", "CASCADE"),
    ("ai_answers", "question_id"): ("questions", "CASCADE"),
    ("answers", "question_id"): ("questions", "CASCADE"),
    ("answers", "author_id"): ("users", "CASCADE"),
    ("chat_rooms", "created_by"): ("users", "SET NULL"),  # RESTRICT in the seed; 0022
    ("chat_messages", "room_id"): ("chat_rooms", "CASCADE"),
    ("chat_messages", "sender_id"): ("users", "CASCADE"),
    ("resources", "author_id"): ("users", "CASCADE"),
    ("votes", "user_id"): ("users", "CASCADE"),
    ("followers", "follower_id"): ("users", "CASCADE"),
    ("followers", "following_id"): ("users", "CASCADE"),
    ("chat_room_participants", "room_id"): ("chat_rooms", "CASCADE"),
    ("chat_room_participants", "user_id"): ("users", "CASCADE"),
    ("notifications", "user_id"): ("users", "CASCADE"),
}

UNIQUE_COLUMNS = {
    ("users", ("email",)),
    ("users", ("username",)),
    ("votes", ("user_id", "votable_type", "votable_id")),
    ("followers", ("follower_id", "following_id")),
    ("chat_room_participants", ("room_id", "user_id")),
}

# Section 4.2 and 4.3: name -> table. 39 indexes, not the 25 of section 1.2.
SEED_INDEXES = {
    "idx_users_email": "users",
    "idx_users_username": "users",
    "idx_users_role": "users",
    "idx_users_created_at": "users",
    "idx_posts_author_id": "posts",
    "idx_posts_category": "posts",
    "idx_posts_created_at": "posts",
    "idx_posts_tags": "posts",
    "idx_comments_post_id": "comments",
    "idx_comments_author_id": "comments",
    "idx_comments_parent_id": "comments",
    "idx_comments_created_at": "comments",
    "idx_questions_author_id": "questions",
    "idx_questions_category": "questions",
    "idx_questions_status": "questions",
    "idx_questions_created_at": "questions",
    "idx_questions_tags": "questions",
    "idx_ai_answers_question_id": "ai_answers",
    "idx_ai_answers_confidence_score": "ai_answers",
    "idx_answers_question_id": "answers",
    "idx_answers_author_id": "answers",
    "idx_answers_is_accepted": "answers",
    "idx_chat_messages_room_id": "chat_messages",
    "idx_chat_messages_sender_id": "chat_messages",
    "idx_chat_messages_created_at": "chat_messages",
    "idx_resources_author_id": "resources",
    "idx_resources_category": "resources",
    "idx_resources_file_type": "resources",
    "idx_resources_tags": "resources",
    "idx_votes_user_id": "votes",
    "idx_votes_votable": "votes",
    "idx_followers_follower_id": "followers",
    "idx_followers_following_id": "followers",
    "idx_notifications_user_id": "notifications",
    "idx_notifications_is_read": "notifications",
    "idx_notifications_created_at": "notifications",
    "idx_posts_search": "posts",
    "idx_questions_search": "questions",
    "idx_resources_search": "resources",
}
ADDED_INDEXES = {"users_email_lower_key": "users", "answers_one_accepted_per_question": "answers",
                 "idx_notifications_quoted": "notifications"}

# Section 6: 8 triggers (not 5), 3 functions (not 8); then what 0003 adds.
SEED_TRIGGERS = {
    "update_users_updated_at": "users",
    "update_posts_updated_at": "posts",
    "update_comments_updated_at": "comments",
    "update_questions_updated_at": "questions",
    "update_answers_updated_at": "answers",
    "update_resources_updated_at": "resources",
    "update_vote_counts_trigger": "votes",
    "update_comment_counts_trigger": "comments",
}
ADDED_TRIGGERS = {
    "check_vote_target_trigger": "votes",
    "notify_sessions_revoked_trigger": "focushub_auth.refresh_tokens",  # 0050
    "notify_user_sessions_trigger": "users",
    "notify_deleted_user_sessions_trigger": "users",
    "expire_mail_tokens_trigger": "users",  # 0057
    "set_joiner_read_position_trigger": "chat_room_participants",  # 0060
    "notifications_forget_deleted_users": "users",  # 0043
    "notifications_forget_blocked": "user_blocks",
    "notifications_unquote_deleted_comments": "comments",  # 0044
    "notifications_unquote_deleted_answers": "answers",
    "notifications_requote_comments": "comments",
    "notifications_requote_answers": "answers",
    # 0045
    "notifications_drop_subject_posts": "posts",
    "notifications_drop_subject_questions": "questions",
    "notifications_drop_subject_comments": "comments",
    "notifications_drop_subject_answers": "answers",
    "notifications_hide_mentions_posts": "posts",
    "notifications_hide_mentions_questions": "questions",
    "delete_post_votes_trigger": "posts",
    "delete_comment_votes_trigger": "comments",
    "delete_question_votes_trigger": "questions",
    "delete_answer_votes_trigger": "answers",
    "update_answer_counts_trigger": "answers",
    "check_question_update_trigger": "questions",
    "check_answer_question_open_trigger": "answers",
    "check_comment_parent_trigger": "comments",
    "add_room_creator_as_admin_trigger": "chat_rooms",
    "check_room_participant_limit_trigger": "chat_room_participants",
    "check_participant_update_trigger": "chat_room_participants",
    "promote_room_admin_on_leave_trigger": "chat_room_participants",
    "update_chat_rooms_updated_at": "chat_rooms",
}

SEED_FUNCTIONS = [
    "public.update_updated_at_column()",
    "public.update_vote_counts()",
    "public.update_comment_counts()",
]

# Functions that run with the owner's rights: each must pin its search_path.
DEFINER_FUNCTIONS = [
    "focushub_auth.is_admin()",
    "public.is_room_member(uuid)",
    "public.room_role(uuid)",
    "public.current_user_account()",
    "public.admin_set_user_status(uuid, user_role, boolean)",
    "public.question_visible_to_caller(uuid)",  # 0046
    "public.answer_visible_to_caller(uuid)",
    "public.accept_answer(uuid)",
    "public.unaccept_answer(uuid)",
    "public.admin_open_reports()",  # 0047
    "public.update_vote_counts()",
    "public.update_comment_counts()",
    "public.update_answer_counts()",
    "public.check_vote_target()",
    "public.delete_votes_of_deleted_item()",
    "public.check_answer_question_open()",
    "public.check_comment_parent()",
    "public.add_room_creator_as_admin()",
    "public.check_room_participant_limit()",
    "public.promote_room_admin_on_leave()",
    "public.log_admin_removal()",  # 0054
    "focushub_auth.expire_mail_tokens()",  # 0057
    "public.set_joiner_read_position()",  # 0060
    # Called only by moderate() (0042).
    "public.moderate_target(report_target, uuid, text, text, timestamptz, text)",
    "public.notifications_forget_deleted_users()",  # 0043
    "public.notifications_forget_blocked()",
    "public.notifications_forget(uuid[], uuid[])",
    "public.notifications_unquote_deleted()",  # 0044
    "public.notifications_requote()",
    "public.notifications_drop_subject()",  # 0045
    "public.notifications_hide_mentions()",
    # Called only by accept_answer() and unaccept_answer() (0046).
    "public.accept_answer_checked(uuid)",
    "public.unaccept_answer_checked(uuid)",
]
# Functions that must see the request role in current_user.
INVOKER_FUNCTIONS = [
    "public.check_question_update()",
    "public.check_participant_update()",
    "public.update_updated_at_column()",
    "auth.uid()",
    "auth.role()",
    "auth.jwt()",
]

SEED_POLICIES = {
    "users": ["Users can view public profiles", "Users can update own profile"],
    "posts": [
        "Anyone can view published posts",
        "Users can create posts",
        "Users can update own posts",
        "Users can delete own posts",
    ],
    "comments": [
        "Anyone can view comments",
        "Users can create comments",
        "Users can update own comments",
        "Users can delete own comments",
    ],
    "questions": [
        "Anyone can view questions",
        "Users can create questions",
        "Users can update own questions",
        "Users can delete own questions",
    ],
    "answers": [
        "Anyone can view answers",
        "Users can create answers",
        "Users can update own answers",
        "Users can delete own answers",
    ],
    "resources": [
        "Anyone can view public resources",
        "Users can view own resources",
        "Users can create resources",
        "Users can update own resources",
        "Users can delete own resources",
    ],
}
ADDED_POLICIES = {
    # Tables the seed does not have (0007, 0008, 0014, 0015, 0019).
    "notification_preferences": [
        "Users can view own notification preferences",
        "Users can create own notification preferences",
        "Users can change own notification preferences",
    ],
    "chat_room_events": ["Participants can view room events"],
    "stored_files": [
        "Users can view own files",
        "Anyone can view files of visible resources",
        "Anyone can view avatars",
        "Participants can view room attachments",
        "Users can upload files",
        "Users can delete own files",
    ],
    "audit_log": ["Admins can read the audit log"],
    # 0021: reports, and one RESTRICTIVE policy per table whose content can be hidden.
    "reports": ["Reporters see their reports, admins all",
                "Signed-in users report what they can see"],
    "moderation_settings": ["Admins can read moderation settings",
                            "The server can read moderation settings"],
    # 0025: blocks and mutes, and one RESTRICTIVE policy per content table against blocks.
    "user_blocks": ["Users see their own blocks", "Users block as themselves", "Users unblock"],
    "user_mutes": ["Users see their own mutes", "Users mute as themselves", "Users unmute"],
    "room_mutes": ["Users see their own room mutes", "Participants mute their rooms",
                   "Users unmute rooms"],
    # 0028: privacy settings, their owner's only.
    # 0033: account exports, their owner's only.
    "account_exports": ["Users can view own exports"],
    "user_privacy": ["Users see their own privacy settings",
                     "Users create their own privacy settings",
                     "Users change their own privacy settings"],
    # 0031: invitations to groups and message requests, seen by the invitee and the group.
    "chat_invitations": ["Invitees can view their invitations",
                         "Group members can view the room's invitations",
                         "Room admins can withdraw invitations"],
    "posts": ["Authors can view own posts", "Admins can delete any post",
              "Hidden posts only to author and admins", "No posts across a block"],
    "comments": ["Admins can delete any comment", "Hidden comments only to author and admins",
                 "No comments across a block"],
    "questions": ["Admins can close any question", "Admins can delete any question",
                  "Hidden questions only to author and admins", "No questions across a block"],
    "answers": ["Admins can delete any answer", "Hidden answers only to author and admins",
                "No answers across a block"],
    "resources": ["Admins can delete any resource", "Hidden resources only to author and admins",
                  "No resources across a block"],
    "ai_answers": ["Anyone can view AI answers of visible questions",
                   "Hidden AI answers only to admins"],
    "chat_rooms": [
        "Participants can view their rooms",
        "Users can create rooms",
        "Room admins can update rooms",
        "Room creators can delete rooms",
        "Invitees can view rooms they are invited to",
    ],
    "chat_room_participants": [
        "Participants can view room members",
        "Room admins can add participants",
        "Participants can update membership",
        "Room admins can remove participants",
        "Room moderators can remove members",
        "Participants can leave rooms",
    ],
    "chat_messages": [
        "Participants can view messages",
        "Participants can send messages as themselves",
        "Users can edit own messages",
        "Users can delete own messages",
        "Room moderators can delete messages",
    ],
    "votes": [
        "Users can view own votes",
        "Users can vote as themselves",
        "Users can change own votes",
        "Users can withdraw own votes",
    ],
    "followers": [
        "Anyone can view follows",
        "Users can follow as themselves",
        "Users can unfollow",
    ],
    "notifications": [
        "Users can view own notifications",
        "Users can mark own notifications read",
        "Users can delete own notifications",
    ],
}

ADDED_CHECKS = {
    "posts": [
        "posts_comments_count_check",
        "posts_title_not_blank",
        "posts_content_length",
        "posts_tags_count",
    ],
    "questions": [
        "questions_answers_count_check",
        "questions_views_count_check",
        "questions_title_not_blank",
        "questions_content_length",
        "questions_tags_count",
    ],
    "resources": [
        "resources_downloads_count_check",
        "resources_title_not_blank",
        "resources_description_length",
        "resources_tags_count",
        "resources_file_size_check",
    ],
    "ai_answers": [
        "ai_answers_relevance_score_check",
        "ai_answers_completeness_score_check",
        "ai_answers_generation_attempts_check",
        "ai_answers_tokens_used_check",
        "ai_answers_processing_time_ms_check",
    ],
    "users": [
        "users_full_name_not_blank",
        "users_bio_length",
        "users_email_format",
        "users_username_format",
        "users_avatar_url_uploaded",
    ],
    "comments": ["comments_content_length"],
    "answers": ["answers_content_length"],
    "chat_messages": ["chat_messages_content_length"],
    "followers": ["followers_not_self"],
    "votes": ["votes_votable_type_check"],
}


def test_the_lists_count_what_the_seed_really_has():
    assert len(COLUMNS) == 13  # section 1.2 says 15
    assert len(SEED_INDEXES) == 39  # section 1.2 says 25
    assert len(SEED_TRIGGERS) == 8  # section 1.2 says 5
    assert len(SEED_FUNCTIONS) == 3  # section 1.2 says 8
    assert len(FOREIGN_KEYS) == 18
    assert sum(len(v) for v in SEED_POLICIES.values()) == 23


async def test_tables_and_columns(owner_conn):
    rows = await owner_conn.fetch(
        """
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull,
               CASE WHEN a.attgenerated = '' THEN pg_get_expr(d.adbin, d.adrelid) END AS default
        FROM pg_class c
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' AND c.relname = ANY($1::text[])
        ORDER BY c.relname, a.attnum
        """,
        list(COLUMNS),
    )
    found: dict[str, list[tuple]] = {}
    for r in rows:
        found.setdefault(r["relname"], []).append(
            (r["attname"], r["type"], r["attnotnull"], r["default"])
        )
    # Later revisions may add columns; the seed's (and 0003's) must be as listed.
    for table, columns in COLUMNS.items():
        actual = {c[0]: c for c in found.get(table, [])}
        assert [actual.get(c[0]) for c in columns] == columns, table


async def test_enums_and_their_labels(owner_conn):
    rows = await owner_conn.fetch(
        """
        SELECT t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder) AS labels
        FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
        WHERE t.typnamespace = 'public'::regnamespace
        GROUP BY t.typname
        """
    )
    found = {r["typname"]: list(r["labels"]) for r in rows}
    for name, labels in ENUMS.items():
        # Seed labels present and in seed order (a later revision may add labels).
        assert [label for label in found.get(name, []) if label in labels] == labels, name


async def test_foreign_keys_and_their_delete_rules(owner_conn):
    rows = await owner_conn.fetch(
        """
        SELECT c.conrelid::regclass::text AS tbl, a.attname AS col, c.confrelid::regclass::text AS ref,
               CASE c.confdeltype WHEN 'c' THEN 'CASCADE' WHEN 'r' THEN 'RESTRICT' WHEN 'a' THEN 'NO ACTION'
                    WHEN 'n' THEN 'SET NULL' ELSE 'SET DEFAULT' END AS on_delete
        FROM pg_constraint c
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
        WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace
        """
    )
    found = {(r["tbl"], r["col"]): (r["ref"], r["on_delete"]) for r in rows}
    assert {key: found.get(key) for key in FOREIGN_KEYS} == FOREIGN_KEYS


async def test_unique_constraints(owner_conn):
    rows = await owner_conn.fetch(
        """
        SELECT c.conrelid::regclass::text AS tbl,
               array_agg(a.attname ORDER BY k.ord) AS cols
        FROM pg_constraint c
        CROSS JOIN unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
        WHERE c.contype = 'u' AND c.connamespace = 'public'::regnamespace
        GROUP BY c.oid, c.conrelid
        """
    )
    assert UNIQUE_COLUMNS <= {(r["tbl"], tuple(r["cols"])) for r in rows}
    names = {
        r["conname"]
        for r in await owner_conn.fetch("SELECT conname FROM pg_constraint WHERE contype = 'u'")
    }
    assert {"users_email_key", "users_username_key"} <= names  # names the API maps to messages


async def test_indexes_keep_their_seed_names(owner_conn):
    rows = await owner_conn.fetch(
        "SELECT indexname, tablename, indexdef FROM pg_indexes WHERE schemaname = 'public'"
    )
    found = {r["indexname"]: r["tablename"] for r in rows}
    for name, table in {**SEED_INDEXES, **ADDED_INDEXES}.items():
        assert found.get(name) == table, name
    defs = {r["indexname"]: r["indexdef"] for r in rows}
    for name in ("idx_posts_search", "idx_questions_search", "idx_resources_search"):
        assert defs[name].endswith("USING gin (search_vector)"), defs[name]
    for name in ("idx_posts_tags", "idx_questions_tags", "idx_resources_tags"):
        assert "USING gin (tags)" in defs[name]
    assert "(confidence_score DESC)" in defs["idx_ai_answers_confidence_score"]
    assert defs["users_email_lower_key"].startswith("CREATE UNIQUE INDEX")
    assert "lower((email)::text)" in defs["users_email_lower_key"]
    assert defs["answers_one_accepted_per_question"].endswith("WHERE is_accepted")


async def test_triggers_and_functions(owner_conn):
    rows = await owner_conn.fetch(
        "SELECT tgname, tgrelid::regclass::text AS tbl FROM pg_trigger WHERE NOT tgisinternal"
    )
    found = {r["tgname"]: r["tbl"] for r in rows}
    for name, table in {**SEED_TRIGGERS, **ADDED_TRIGGERS}.items():
        assert found.get(name) == table, name
    # One trigger name on several tables.
    on = {r["tbl"] for r in rows if r["tgname"] == "log_admin_removal_trigger"}  # 0054
    assert on == {"posts", "comments", "questions", "answers", "resources"}
    for signature in SEED_FUNCTIONS + DEFINER_FUNCTIONS + INVOKER_FUNCTIONS:
        assert await owner_conn.fetchval("SELECT to_regprocedure($1) IS NOT NULL", signature), (
            signature
        )
    for signature in DEFINER_FUNCTIONS:
        secdef, config = await owner_conn.fetchrow(
            "SELECT prosecdef, proconfig FROM pg_proc WHERE oid = to_regprocedure($1)", signature
        )
        assert secdef and config == ["search_path=public, pg_temp"], signature
    for signature in INVOKER_FUNCTIONS:
        assert not await owner_conn.fetchval(
            "SELECT prosecdef FROM pg_proc WHERE oid = to_regprocedure($1)", signature
        ), signature
    # The rewritten vote trigger contains no dynamic SQL.
    body = await owner_conn.fetchval(
        "SELECT prosrc FROM pg_proc WHERE oid = 'public.update_vote_counts()'::regprocedure"
    )
    assert "EXECUTE" not in body.upper().replace("EXECUTE FUNCTION", "")
    # Only the functions meant for requests are executable by them.
    callable_by = {
        sig: {
            role
            for role in ("anon", "authenticated", "service_role")
            if await owner_conn.fetchval(
                "SELECT has_function_privilege($1, to_regprocedure($2), 'EXECUTE')", role, sig
            )
        }
        for sig in DEFINER_FUNCTIONS
    }
    assert callable_by == {
        "focushub_auth.is_admin()": {"anon", "authenticated", "service_role"},
        "public.is_room_member(uuid)": {"authenticated", "service_role"},
        "public.room_role(uuid)": {"authenticated", "service_role"},
        "public.current_user_account()": {"authenticated"},
        "public.admin_set_user_status(uuid, user_role, boolean)": {"authenticated"},
        "public.question_visible_to_caller(uuid)": {"authenticated"},
        "public.answer_visible_to_caller(uuid)": {"authenticated"},
        "public.accept_answer(uuid)": {"authenticated"},
        "public.unaccept_answer(uuid)": {"authenticated"},
        "public.admin_open_reports()": {"authenticated"},
        **{sig: set() for sig in DEFINER_FUNCTIONS[10:]},
    }


async def test_rls_and_policies(owner_conn):
    rls = {
        r["relname"]: r["relrowsecurity"]
        for r in await owner_conn.fetch(
            "SELECT relname, relrowsecurity FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'"
            " AND relname = ANY($1::text[])",
            list(COLUMNS),
        )
    }
    assert rls == {table: True for table in COLUMNS}
    rows = await owner_conn.fetch(
        "SELECT tablename, policyname FROM pg_policies WHERE schemaname = 'public'"
    )
    found: dict[str, set[str]] = {}
    for r in rows:
        found.setdefault(r["tablename"], set()).add(r["policyname"])
    expected: dict[str, set[str]] = {}
    for source in (SEED_POLICIES, ADDED_POLICIES):
        for table, names in source.items():
            expected.setdefault(table, set()).update(names)
    # Exactly these: a policy added anywhere without being listed here (a permissive one
    # would widen access silently) fails the test.
    assert found == expected, {t: (sorted(found.get(t, set()) - expected.get(t, set())),
                                   sorted(expected.get(t, set()) - found.get(t, set())))
                               for t in set(found) | set(expected)
                               if found.get(t) != expected.get(t)}


async def test_added_check_constraints(owner_conn):
    rows = await owner_conn.fetch(
        "SELECT conrelid::regclass::text AS tbl, conname FROM pg_constraint"
        " WHERE contype = 'c' AND connamespace = 'public'::regnamespace"
    )
    found: dict[str, set[str]] = {}
    for r in rows:
        found.setdefault(r["tbl"], set()).add(r["conname"])
    for table, names in ADDED_CHECKS.items():
        assert set(names) <= found.get(table, set()), table
    # The seed's own two checks, under PostgreSQL's generated names.
    assert {"ai_answers_confidence_score_check", "ai_answers_user_feedback_rating_check"} <= found[
        "ai_answers"
    ]


async def test_search_vectors_are_generated_and_null_safe(owner_conn):
    generated = await owner_conn.fetch(
        "SELECT attrelid::regclass::text AS tbl FROM pg_attribute"
        " WHERE attname = 'search_vector' AND attgenerated = 's' ORDER BY 1"
    )
    # answers: 0016, for AI answers' retrieval.
    assert [r["tbl"] for r in generated] == ["answers", "posts", "questions", "resources"]
    author = await make_user(owner_conn)
    resource = await make_resource(owner_conn, author)  # description is NULL
    found = await owner_conn.fetchval(
        "SELECT id FROM resources WHERE search_vector @@ websearch_to_tsquery('english', 'cheat sheets')"
    )
    assert found == resource
    # The title weighs more than the body.
    weights = await owner_conn.fetchval(
        "SELECT search_vector::text FROM resources WHERE id = $1", resource
    )
    assert "'cheat':1A" in weights


async def test_roles_are_supabase_shaped(owner_conn):
    rows = {
        r["rolname"]: r
        for r in await owner_conn.fetch(
            "SELECT rolname, rolcanlogin, rolbypassrls, rolsuper FROM pg_roles"
            " WHERE rolname IN ('anon', 'authenticated', 'service_role')"
        )
    }
    assert set(rows) == {"anon", "authenticated", "service_role"}
    for name, row in rows.items():
        assert not row["rolcanlogin"] and not row["rolsuper"], name
    assert rows["service_role"]["rolbypassrls"] and not rows["authenticated"]["rolbypassrls"]
    assert not rows["anon"]["rolbypassrls"]


@pytest.mark.parametrize(
    ("sub", "claims", "expected"),
    [
        ("", {"role": "anon"}, None),
        ("{id}", {"role": "authenticated", "sub": "{id}"}, "{id}"),
        ("", {"role": "authenticated", "sub": "{id}"}, "{id}"),  # falls back to the claims
        ("", {"role": "authenticated", "sub": ""}, None),
    ],
)
async def test_auth_uid_reads_the_claims(app_conn, sub, claims, expected):
    user_id = str(uuid.uuid4())

    def fill(text: str) -> str:
        return text.replace("{id}", user_id)

    async with app_conn.transaction():
        await app_conn.execute(
            "SELECT set_config('role', $1, true), set_config('request.jwt.claims', $2, true),"
            " set_config('request.jwt.claim.sub', $3, true)",
            claims["role"],
            fill(json.dumps(claims)),
            fill(sub),
        )
        uid, role, jwt = await app_conn.fetchrow(
            "SELECT auth.uid()::text, auth.role(), auth.jwt()::text"
        )
    assert uid == (fill(expected) if expected else None)
    assert role == claims["role"]
    assert json.loads(jwt)["role"] == claims["role"]
