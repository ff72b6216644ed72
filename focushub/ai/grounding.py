"""Grounding: what the platform already knows about a question, and how well it answers it.

**Retrieval** (:func:`retrieve`) runs under RLS as whoever ``tx`` runs as (the
anonymous role, for the public answers of ai/service.py), so material that reader
may not see never enters a prompt. The question's words are reduced to
PostgreSQL's English lexemes (the same stemming and stop words as search); the
candidates are the best answers (accepted first, then by votes) of the question
itself and of the most similar questions, the answers whose own words match
best, and the best matching posts and resources (their extracted file text
included), all found through full-text indexes (``search_ranked``, and
``answers.search_vector``).

**Scores**, each in [0, 1], over the question's *key terms* (its lexemes minus
words that only frame a question, such as "explain" or "difference"):

* relevance: the share of key terms the best single source contains;
* completeness: the share of key terms the answer's text covers;
* confidence: relevance × completeness, times 0.85 when a single source supports
  the answer (no corroboration), and capped by both: never above what the
  evidence supports.

An answer is given only when relevance reaches :data:`MIN_RELEVANCE` and at
least two key terms matched; otherwise the answer *abstains*.

**Extraction** (:func:`extract`, the offline provider): the sentences of the top
sources are scored by the key terms they contain (per square root of their
length, so a long sentence does not win by size), and up to
:data:`MAX_SENTENCES` are picked greedily, each adding key terms the earlier ones
did not cover, and quoted with their citation. None may qualify (a source can match by
its title alone): the answer then abstains (ai/service.py).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from focushub.core.db import Tx

MIN_RELEVANCE = 0.5
MIN_MATCHED_TERMS = 2
MAX_SOURCES = 8
MAX_SENTENCES = 4
# Lexemes (English stems) that frame a question rather than say what it is about.
FRAMING = frozenset("""
    explain differ differenc work use mean best way good learn understand help need know
    get make exampl question anyon someon pleas thank tri would could like want go thing
    better possibl start begin right wrong problem issu correct find show tell idea
""".split())


@dataclass
class Source:
    n: int
    type: str
    id: UUID
    title: str
    body: str
    score: float
    question_id: UUID | None = None
    terms: set[str] = field(default_factory=set)

    @property
    def url(self) -> str:
        if self.type == "answer":
            return f"/api/v1/questions/{self.question_id}#answer-{self.id}"
        return f"/api/v1/{self.type}s/{self.id}"


@dataclass(frozen=True)
class Sentence:
    source: Source
    text: str
    terms: frozenset[str]  # the key terms it contains
    size: int  # how many lexemes it has


@dataclass
class Grounding:
    key_terms: list[str]
    sources: list[Source]
    relevance: float
    matched_terms: int

    @property
    def answerable(self) -> bool:
        return self.relevance >= MIN_RELEVANCE and self.matched_terms >= MIN_MATCHED_TERMS


_RETRIEVE = """
WITH terms AS (
    SELECT array_agg(DISTINCT lexeme ORDER BY lexeme) AS all_terms
    FROM unnest(to_tsvector('english'::regconfig, :text)) AS t
    WHERE NOT lexeme = ANY(CAST(:framing AS text[])) AND length(lexeme) > 1
),
query AS (
    SELECT to_tsquery('simple'::regconfig, string_agg(quote_literal(term), ' | ')) AS q
    FROM terms, unnest(terms.all_terms) AS term
),
alike AS (
    SELECT c.id, c.rank FROM query,
        public.search_ranked('question', query.q, NULL, NULL, NULL, NULL, 6, 300) AS c
    WHERE query.q IS NOT NULL AND c.id <> :question_id
    UNION ALL SELECT CAST(:question_id AS uuid), 1.0
),
by_question AS (
    SELECT a.id, a.question_id, a.content, a.is_accepted, a.votes_count, s.rank
    FROM alike s
    CROSS JOIN LATERAL (
        SELECT * FROM public.answers a WHERE a.question_id = s.id
        ORDER BY a.is_accepted DESC, a.votes_count DESC, a.created_at LIMIT 2) a
),
by_words AS (
    SELECT a.id, a.question_id, a.content, a.is_accepted, a.votes_count,
           ts_rank_cd(a.search_vector, query.q, 1 | 32) * 2 AS rank
    FROM query, public.answers a
    WHERE query.q IS NOT NULL AND a.search_vector @@ query.q AND a.question_id <> :question_id
    ORDER BY ts_rank_cd(a.search_vector, query.q, 1 | 32) DESC LIMIT 8
),
answers_found AS (
    SELECT DISTINCT ON (id) * FROM (SELECT * FROM by_question UNION ALL SELECT * FROM by_words) x
    ORDER BY id, rank DESC
),
candidates AS (
    SELECT 'answer' AS type, a.id, qq.id AS question_id, qq.title, a.content AS body,
           a.rank + CASE WHEN a.is_accepted THEN 0.5 ELSE 0 END
             + least(greatest(coalesce(a.votes_count, 0), 0), 10) * 0.02 AS score
    FROM answers_found a JOIN public.questions qq ON qq.id = a.question_id
    UNION ALL
    SELECT 'post', p.id, NULL, p.title, p.content, c.rank FROM query,
        public.search_ranked('post', query.q, NULL, NULL, NULL, NULL, 5, 300) AS c
        JOIN public.posts p ON p.id = c.id
    WHERE query.q IS NOT NULL
    UNION ALL
    SELECT 'resource', r.id, NULL, r.title,
           concat_ws(E'\\n', r.description, left(r.extracted_text, 20000)), c.rank FROM query,
        public.search_ranked('resource', query.q, NULL, NULL, NULL, NULL, 5, 300) AS c
        JOIN public.resources r ON r.id = c.id
    WHERE query.q IS NOT NULL
)
SELECT (SELECT all_terms FROM terms) AS key_terms, c.*
FROM (SELECT 1) one LEFT JOIN LATERAL (
    SELECT * FROM candidates ORDER BY score DESC, id LIMIT :limit) c ON true
"""

_LEXEMES = """
SELECT t.ord, coalesce(array(SELECT lexeme FROM unnest(to_tsvector('english'::regconfig, t.s))),
                      '{}') AS terms
FROM unnest(CAST(:texts AS text[])) WITH ORDINALITY AS t(s, ord)
ORDER BY t.ord
"""


async def lexemes(tx: Tx, texts: list[str]) -> list[set[str]]:
    """PostgreSQL's English lexemes of each text (one round trip)."""
    if not texts:
        return []
    rows = await tx.all(_LEXEMES, texts=texts)
    return [set(r["terms"]) for r in rows]


async def retrieve(tx: Tx, question_id: UUID, text: str) -> Grounding:
    """Sources for the question ``text`` that the caller of ``tx`` may see, and relevance."""
    rows = await tx.all(_RETRIEVE, text=text, question_id=question_id,
                        framing=sorted(FRAMING), limit=MAX_SOURCES)
    key_terms = list(rows[0]["key_terms"] or []) if rows else []
    sources = [
        Source(n=i + 1, type=r["type"], id=r["id"], title=r["title"], body=r["body"] or "",
               score=float(r["score"]), question_id=r["question_id"])
        for i, r in enumerate(r for r in rows if r["id"] is not None)
    ]
    term_sets = await lexemes(tx, [f"{s.title}\n{s.body}" for s in sources])
    wanted = set(key_terms)
    for source, terms in zip(sources, term_sets, strict=True):
        source.terms = terms & wanted
    best = max((len(s.terms) for s in sources), default=0)
    relevance = best / len(wanted) if wanted else 0.0
    return Grounding(key_terms, sources, round(relevance, 2), best)


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_MARKUP = re.compile(r"^[\s>#*\-+\d.)]+")


def sentences_of(body: str) -> list[str]:
    """The sentences of a Markdown body, without list and heading markers; 20–400 chars."""
    out = []
    for part in _SENTENCE_END.split(body):
        sentence = _MARKUP.sub("", part).strip()
        if 20 <= len(sentence) <= 400 and not sentence.startswith("```"):
            out.append(sentence)
    return out


async def extract(tx: Tx, grounding: Grounding) -> tuple[str, list[dict[str, Any]], set[str]]:
    """The offline answer: the best sentences of the sources, cited. Returns the Markdown
    text, the citations and the key terms it covers."""
    wanted = set(grounding.key_terms)
    candidates: list[tuple[Source, str]] = []
    for source in grounding.sources[:5]:
        if source.terms:
            candidates.extend((source, s) for s in sentences_of(source.body)[:60])
    term_sets = await lexemes(tx, [text for _, text in candidates])
    pool = [Sentence(src, text, frozenset(terms & wanted), max(1, len(terms)))
            for (src, text), terms in zip(candidates, term_sets, strict=True) if terms & wanted]
    chosen: list[Sentence] = []
    covered: set[str] = set()

    def gain(s: Sentence) -> float:
        return len(s.terms - covered) / math.sqrt(s.size) + 0.01 * s.source.score

    while pool and len(chosen) < MAX_SENTENCES:
        best = max(pool, key=gain)
        if not best.terms - covered:
            break
        chosen.append(best)
        covered |= best.terms
        pool.remove(best)
    # Grouped by source, in the sources' order, each source cited once.
    chosen.sort(key=lambda s: (s.source.n, s.text))
    cited: dict[int, dict[str, Any]] = {}
    lines = []
    for sentence in chosen:
        entry = cited.setdefault(sentence.source.n, citation(sentence.source, []))
        entry["quote"].append(sentence.text)
        lines.append(f"- {sentence.text} [{sentence.source.n}]")
    citations = []
    for entry in cited.values():
        entry["quote"] = " … ".join(entry["quote"])
        citations.append(entry)
    text = "From what the community has written:\n\n" + "\n".join(lines)
    return text, citations, covered


def citation(source: Source, quote: Any) -> dict[str, Any]:
    return {"n": source.n, "type": source.type, "id": str(source.id), "title": source.title,
            "url": source.url, "quote": quote}


def uncited(source: Source) -> dict[str, Any]:
    """A source the model was given but did not cite, as the answer's snapshot keeps it:
    enough to look it up, nothing to show."""
    return {"n": source.n, "type": source.type, "id": str(source.id), "cited": False}


def confidence(relevance: float, completeness: float, sources_cited: int) -> float:
    """relevance × completeness, × 0.85 without a second source; never above either."""
    value = relevance * completeness * (1.0 if sources_cited >= 2 else 0.85)
    return round(min(value, relevance, completeness), 2)


def completeness(covered: set[str], key_terms: list[str]) -> float:
    return round(len(covered & set(key_terms)) / len(key_terms), 2) if key_terms else 0.0
