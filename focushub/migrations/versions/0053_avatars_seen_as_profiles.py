"""An avatar is not served across a block, nor for a deactivated account.

Revision ID: 0053_avatars_seen_as_profiles
Revises: 0052_refresh_race_grace

``"Anyone can view avatars"`` (0014) showed every avatar's file to everyone, so
``GET /users/{id}/avatar`` served the picture of someone who blocked the caller (or whom the
caller blocked), and of an account an administrator deactivated (a picture may be why),
though neither profile is there for them (0025, 0051). The policy keeps its name and now also
asks that no block stand between the caller and the owner, and that the owner be active
(administrators see every avatar, as every profile). A profile shown to the signed-in only
keeps its avatar public: pages load avatars without a token, and authors' avatars go with
their public posts.
"""

from __future__ import annotations

from focushub.migrations.sql import run_sql

revision = "0053_avatars_seen_as_profiles"
down_revision = "0052_refresh_race_grace"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("""
    ALTER POLICY "Anyone can view avatars" ON public.stored_files
        USING (purpose = 'avatar'
               AND owner_id <> ALL ((SELECT public.block_wall())::uuid[])
               AND (EXISTS (SELECT 1 FROM public.users u
                            WHERE u.id = stored_files.owner_id AND u.is_active)
                    OR (SELECT focushub_auth.is_admin())));
    """)


def downgrade() -> None:
    run_sql("""
    ALTER POLICY "Anyone can view avatars" ON public.stored_files
        USING (purpose = 'avatar');
    """)
