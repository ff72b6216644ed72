"""SQL of AI answers."""

from __future__ import annotations

from focushub.core.jsonsql import json_time

# The citations of the answer that the reader can still see: ``ai_answers.citations`` is a
# snapshot taken when the answer was made, and a source may since have been deleted, hidden
# by a moderator, made private or put behind a block. Each is looked up in its table in
# the reader's transaction, so the reader's own SELECT policies decide (RLS stays the
# authority; the snapshot in the row is left as it was).
VISIBLE_CITATIONS = """
    (SELECT coalesce(jsonb_agg(c.value ORDER BY c.ordinality), '[]'::jsonb)
     FROM jsonb_array_elements(a.citations) WITH ORDINALITY c
     WHERE CASE c.value ->> 'type'
         WHEN 'answer' THEN EXISTS (SELECT 1 FROM public.answers s
                                    WHERE s.id = CAST(c.value ->> 'id' AS uuid))
         WHEN 'post' THEN EXISTS (SELECT 1 FROM public.posts s
                                  WHERE s.id = CAST(c.value ->> 'id' AS uuid))
         WHEN 'resource' THEN EXISTS (SELECT 1 FROM public.resources s
                                      WHERE s.id = CAST(c.value ->> 'id' AS uuid))
         WHEN 'question' THEN EXISTS (SELECT 1 FROM public.questions s
                                      WHERE s.id = CAST(c.value ->> 'id' AS uuid))
         ELSE false END)
"""

# How many of the sources :sources (a JSON array of objects with ``type`` and ``id``) the
# reader may see, by the same lookups.
VISIBLE_SOURCES = (f"SELECT jsonb_array_length({VISIBLE_CITATIONS})"
                   " FROM (SELECT CAST(:sources AS jsonb) AS citations) a")

# ``cited_count``: how many sources the answer cited when it was made. When the reader sees
# fewer of them now, the answer's text is withheld from them (it may quote what they may no
# longer read): read_answer() and answer_json() below.
COLUMNS = f"""
    a.id, a.question_id, a.status, a.answer_text, {VISIBLE_CITATIONS} AS citations,
    jsonb_array_length(coalesce(a.citations, '[]'::jsonb)) AS cited_count, a.model_used,
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
    return f"({r}.cited_count - jsonb_array_length({r}.citations))"


def answer_json(alias: str) -> str:
    r = alias
    return (
        f"json_build_object('id', {r}.id, 'question_id', {r}.question_id, 'status', {r}.status,"
        f" 'answer_text', CASE WHEN {_unavailable(r)} > 0 THEN '' ELSE {r}.answer_text END,"
        f" 'sources_unavailable', {_unavailable(r)},"
        f" 'citations', {r}.citations, 'model_used', {r}.model_used,"
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
