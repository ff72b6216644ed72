"""SQL of reports and the moderation queue. Every statement runs as the caller:
the reports policies (0021) show reporters their own reports and admins all."""

from __future__ import annotations

REPORT_COLUMNS = (
    "id, target_type::text AS target_type, target_id, reason::text AS reason, details,"
    " status::text AS status, created_at, resolved_at"
)

TARGET_VISIBLE = "SELECT public.report_target_visible(CAST(:type AS report_target), :id)"

CREATE = f"""
INSERT INTO public.reports (target_type, target_id, reason, details)
VALUES (CAST(:type AS report_target), :id, CAST(:reason AS report_reason), :details)
RETURNING {REPORT_COLUMNS}
"""

# The caller's own reports, newest first. The explicit reporter filter matters
# for admins, whom the policy shows every report.
MINE = f"""
SELECT {REPORT_COLUMNS}
FROM public.reports
WHERE reporter_id = auth.uid()
  AND (CAST(:after_created AS timestamptz) IS NULL
       OR (created_at, id) < (CAST(:after_created AS timestamptz), CAST(:after_id AS uuid)))
ORDER BY created_at DESC, id DESC
LIMIT :limit
"""

# Targets with open reports: most reported first, then the longest waiting.
# Reporters' ids never leave this query; what they wrote does. The reports are read through
# admin_open_reports() (0047): a request role may not read their authors' ids directly.
QUEUE = """
WITH grouped AS (
    SELECT target_type, target_id,
           count(*) AS open_reports,
           min(created_at) AS first_reported_at,
           max(created_at) AS last_reported_at,
           (array_agg(snapshot ORDER BY created_at DESC))[1] AS snapshot,
           (array_agg(target_user_id ORDER BY created_at DESC))[1] AS author_id,
           array_remove(array_agg(details ORDER BY created_at), NULL) AS details,
           jsonb_agg(reason) AS reasons
    FROM public.admin_open_reports()
    GROUP BY target_type, target_id
)
SELECT g.target_type::text AS target_type, g.target_id, g.open_reports, g.first_reported_at,
       g.last_reported_at, g.snapshot, g.author_id, g.details, g.reasons,
       u.username::text AS author_username,
       public.admin_report_target_state(g.target_type, g.target_id) AS state
FROM grouped g
LEFT JOIN public.users u ON u.id = g.author_id
WHERE CAST(:after_n AS bigint) IS NULL
   OR (-g.open_reports, g.first_reported_at, g.target_id)
      > (-CAST(:after_n AS bigint), CAST(:after_first AS timestamptz), CAST(:after_id AS uuid))
ORDER BY g.open_reports DESC, g.first_reported_at, g.target_id
LIMIT :limit
"""

MODERATE = """
SELECT public.moderate(CAST(:type AS report_target), :id, :action, :reason,
                       CAST(:until AS timestamptz), :rid)
"""

SETTINGS = """
SELECT public.hide_threshold() AS hide_threshold,
       (SELECT updated_at FROM public.moderation_settings) AS updated_at
"""

SET_THRESHOLD = "SELECT public.admin_set_hide_threshold(:n, :reason, :rid)"
