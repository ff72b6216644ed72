"""SQL of AI answers."""

from __future__ import annotations

from focushub.core.jsonsql import json_time

# ``ai_answers.citations`` is a snapshot taken when the answer was made: the sources the
# answer cited, and after them the sources a model was given but did not cite, marked
# ``"cited": false`` (only ``{n, type, id}`` of those: they are never shown). The text may
# quote any source it was given, cited or not. A snapshot written before uncited sources
# were kept has none, and each of its entries counts as cited.

# The entries of the snapshot ``a.citations``, one row each: the entry, its place, its
# source's type and id, and whether the answer cited it. The id is read here, in a query
# of its own (``OFFSET 0`` keeps the planner from folding it into the lookups below): a
# lookup whose condition reads the JSON itself is not one PostgreSQL may apply before the
# table's policies (``->>`` and the cast are not leakproof), and became a scan of the
# whole table under its policies for each source.
_ENTRIES = """
    SELECT c.value, c.ordinality, c.value ->> 'type' AS type,
           CAST(c.value ->> 'id' AS uuid) AS id,
           coalesce(c.value ->> 'cited', 'true') <> 'false' AS cited
    FROM jsonb_array_elements(a.citations) WITH ORDINALITY c OFFSET 0"""

# Whether the reader can still see the source of the entry ``e`` (it may since have been
# deleted, hidden by a moderator, made private or put behind a block): looked up by its
# primary key in its table in the reader's transaction, so the reader's own SELECT
# policies decide (RLS stays the authority; the snapshot in the row is left as it was).
# ``OFFSET 0`` in each lookup keeps it one: PostgreSQL may otherwise turn an EXISTS into a
# hash of every row of the table the reader may see, built for a handful of lookups.
_SEEN = """CASE e.type
         WHEN 'answer' THEN EXISTS (SELECT 1 FROM public.answers s WHERE s.id = e.id OFFSET 0)
         WHEN 'post' THEN EXISTS (SELECT 1 FROM public.posts s WHERE s.id = e.id OFFSET 0)
         WHEN 'resource' THEN EXISTS (SELECT 1 FROM public.resources s
                                      WHERE s.id = e.id OFFSET 0)
         WHEN 'question' THEN EXISTS (SELECT 1 FROM public.questions s
                                      WHERE s.id = e.id OFFSET 0)
         ELSE false END"""

# What the reader sees of the answer ``a``'s sources, each source looked up once:
# ``citations``, the cited sources the reader can still see, in the snapshot's order, and
# ``unavailable``, how many of all the sources the answer was made from (cited or only
# given) the reader may not see. ``OFFSET 0``: folded into the aggregate, the lookups would
# be made once for each of the two aggregates that read ``seen``.
SOURCES_SEEN = f"""
    (SELECT jsonb_build_object(
                'citations', coalesce(jsonb_agg(e.value ORDER BY e.ordinality)
                                      FILTER (WHERE e.cited AND e.seen), '[]'::jsonb),
                'unavailable', count(*) FILTER (WHERE NOT e.seen))
     FROM (SELECT e.value, e.ordinality, e.cited, {_SEEN} AS seen
           FROM ({_ENTRIES}) e OFFSET 0) e)
"""

# How many of the sources :sources (a JSON array of objects with ``type`` and ``id``) the
# reader may see, by the same lookups.
VISIBLE_SOURCES = f"""
    SELECT count(*) FILTER (WHERE {_SEEN})
    FROM (SELECT CAST(:sources AS jsonb) AS citations) a CROSS JOIN LATERAL ({_ENTRIES}) e
"""

# ``sources``: SOURCES_SEEN. When the reader may not see one of the sources, the answer's
# text is withheld from them (it may quote what they may no longer read): read_answer()
# and answer_json() below.
COLUMNS = f"""
    a.id, a.question_id, a.status, a.answer_text, {SOURCES_SEEN} AS sources, a.model_used,
    a.confidence_score::float8 AS confidence_score, a.relevance_score::float8 AS relevance_score,
    a.completeness_score::float8 AS completeness_score, a.tokens_used, a.processing_time_ms,
    a.generation_attempts, a.user_feedback_rating, a.created_at, a.completed_at
"""

# Shown ones first (completed, confident enough), newest first within each group.
ORDER = ("(a.status = 'completed' AND coalesce(a.confidence_score, 0) >= :min_confidence) DESC,"
         " a.created_at DESC, a.id DESC")

# One AIAnswerRead as JSON, over a row of COLUMNS (a hot read, focushub.core.jsonsql).
# ``collapsed`` is the complement of the first key of ORDER; binds :min_confidence.
def _unavailable(r: str) -> str:
    return f"CAST({r}.sources ->> 'unavailable' AS integer)"


def answer_json(alias: str) -> str:
    r = alias
    return (
        f"json_build_object('id', {r}.id, 'question_id', {r}.question_id, 'status', {r}.status,"
        f" 'answer_text', CASE WHEN {_unavailable(r)} > 0 THEN '' ELSE {r}.answer_text END,"
        f" 'sources_unavailable', {_unavailable(r)},"
        f" 'citations', {r}.sources -> 'citations', 'model_used', {r}.model_used,"
        f" 'confidence_score', {r}.confidence_score, 'relevance_score', {r}.relevance_score,"
        f" 'completeness_score', {r}.completeness_score, 'tokens_used', {r}.tokens_used,"
        f" 'processing_time_ms', {r}.processing_time_ms,"
        f" 'generation_attempts', {r}.generation_attempts,"
        f" 'user_feedback_rating', {r}.user_feedback_rating,"
        f" 'collapsed', NOT ({r}.status = 'completed'"
        f" AND coalesce({r}.confidence_score, 0) >= :min_confidence),"
        f" 'created_at', {json_time(f'{r}.created_at')},"
        f" 'completed_at', {json_time(f'{r}.completed_at')})"
    )


LIST = f"SELECT {COLUMNS} FROM public.ai_answers a WHERE a.question_id = :question_id ORDER BY {ORDER}"

REQUEST = f"SELECT {COLUMNS} FROM public.request_ai_answer(:question_id, :daily_limit) a"

RATE = f"SELECT {COLUMNS} FROM public.rate_ai_answer(:id, :rating) a"
# The job's view of an answer to make (as service_role).
TO_GENERATE = """
    SELECT a.id, a.status, a.requested_by, a.question_id, a.generation_attempts,
           q.title, q.content
    FROM public.ai_answers a JOIN public.questions q ON q.id = a.question_id
    WHERE a.id = :id
"""

FINISH = """
    UPDATE public.ai_answers a SET status = :status, answer_text = :text,
        citations = CAST(:citations AS jsonb), model_used = :model,
        confidence_score = :confidence, relevance_score = :relevance,
        completeness_score = :completeness, tokens_used = :tokens,
        processing_time_ms = :ms, generation_attempts = a.generation_attempts + 1,
        completed_at = now(), last_error = NULL
    WHERE a.id = :id AND a.status = 'pending'
    RETURNING a.id
"""

FAILED_ATTEMPT = """
    UPDATE public.ai_answers SET generation_attempts = generation_attempts + 1,
        last_error = :error, status = CASE WHEN :give_up THEN 'failed' ELSE status END,
        completed_at = CASE WHEN :give_up THEN now() END
    WHERE id = :id AND status = 'pending'
    RETURNING requested_by
"""

# Per model: outcomes and the askers' ratings (for the admin area).
STATS = """
    SELECT a.model_used, count(*) AS answers,
           count(*) FILTER (WHERE a.status = 'completed') AS completed,
           count(*) FILTER (WHERE a.status = 'abstained') AS abstained,
           count(*) FILTER (WHERE a.status = 'failed') AS failed,
           count(a.user_feedback_rating) AS ratings,
           round(avg(a.user_feedback_rating), 2)::float8 AS average_rating,
           round(avg(a.confidence_score) FILTER (WHERE a.status = 'completed'), 2)::float8
               AS average_confidence
    FROM public.ai_answers a WHERE a.status <> 'pending'
    GROUP BY a.model_used ORDER BY answers DESC, a.model_used
"""
