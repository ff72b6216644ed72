"""A profile picture is one uploaded here: ``users.avatar_url`` names no outside address.

Revision ID: 0048_avatar_is_uploaded
Revises: 0047_report_columns

The seed's ``avatar_url`` is free text, and ``PATCH /users/me`` took any http(s) URL. Every
client showing a profile, a post's author or a chat member then fetched that address from
whoever chose it: each reader's network address, and when they read, went to a third party
(a tracking pixel in a school's feed), and the picture could change after moderation. The
web pages already refused to load it (their Content-Security-Policy allows images from the
server only), so such a picture showed as broken there.

Now ``avatar_url`` is null or the address of the account's own uploaded picture
(``/api/v1/users/<id>/avatar?v=<12 hex>``, written by ``PUT /users/me/avatar``): the check
``users_avatar_url_uploaded``. Outside addresses already stored are cleared first (they
showed nowhere in the web app).
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0048_avatar_is_uploaded"
down_revision = "0047_report_columns"
branch_labels = None
depends_on = None

_OWN = r"'^/api/v1/users/' || id::text || '/avatar\?v=[0-9a-f]{12}$'"


def upgrade() -> None:
    run_sql(f"""
    UPDATE public.users SET avatar_url = NULL
    WHERE avatar_url IS NOT NULL AND avatar_url !~ ({_OWN});
    ALTER TABLE public.users ADD CONSTRAINT users_avatar_url_uploaded
        CHECK (avatar_url IS NULL OR avatar_url ~ ({_OWN}));
    """)


def downgrade() -> None:
    run_sql("ALTER TABLE public.users DROP CONSTRAINT users_avatar_url_uploaded;")
