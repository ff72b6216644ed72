"""Generate a reproducible data set with realistic shapes, streamed as chunks of COPY rows.

Shapes (scale 1): 10k users, 100k posts, 20k questions, 60k answers, 300k
comments, 500k votes, about 200k follows, 100k question views, 2k resources.

* Activity is power-law: each user has a Pareto weight (alpha 1.16, the 80/20
  law) that decides how often they post, comment, answer and vote; followers go
  to users by a popularity weight correlated with activity.
* Items (posts, questions, answers, comments) have their own Pareto popularity:
  comments, answers and votes concentrate on popular items (and, within a
  thread, on its first comments and answers).
* Timestamps are recent-biased, over the two years before the load time; an
  author exists before what they write, and a reply is never earlier than what
  it replies to; some items fall in the last 30 days, so the trending views
  have material.
* Text comes from a pool of sentences over a Zipf-like vocabulary; lengths are
  log-normal (posts about 600 characters median, comments about 120).
* Every counter (likes_count, comments_count, replies_count, votes_count,
  answers_count, views_count) is decided before the rows it counts are written,
  so a load needs no UPDATE pass and each counter equals its recount.

Memory is bounded by design. :func:`plan` draws the structure into compact
arrays of a few bytes per user, post, question, answer and comment (authors,
times, how many comments, likes and views each item gets); no row tuple and no
text is kept. :meth:`Dataset.chunks` then writes one table's rows in chunks of
at most :data:`CHUNK_ROWS`, generating text and ids as it goes, so a COPY can
consume them while the next chunk is made. Ids are a bijection of the row
number (no id is stored); comments, answers and votes are written thread by
thread, replaying the thread's structure from its own random stream.

The same ``seed`` gives the same rows; timestamps are offsets from ``anchor``
(the load time rounded down to the hour), so two loads differ only by that shift.
Users, posts and questions are written in creation order, as a live database
appends them (newest-first index walks then read neighbouring pages).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import uuid
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import accumulate
from typing import Any

from asyncpg.pgproto.pgproto import UUID

from focushub.seed import words

BASE = {
    "users": 10_000,
    "posts": 100_000,
    "questions": 20_000,
    "answers": 60_000,
    "comments": 300_000,
    "votes": 500_000,
    "follows": 200_000,
    "question_views": 100_000,
    "resources": 2_000,
}
VOTE_SPLIT = {"post": 0.5, "comment": 0.2, "question": 0.15, "answer": 0.15}
# Questions and answers are voted up or down; posts and comments only liked (0027).
UP_SHARE = 0.8
SPAN = timedelta(days=730)
# Rows per chunk handed to COPY: the most rows of one table held at a time.
CHUNK_ROWS = 2000

Row = tuple[Any, ...]

# Columns written by COPY, per table. Generated columns (search_vector) are left out.
COLUMNS: dict[str, tuple[str, ...]] = {
    "users": ("id", "email", "full_name", "username", "avatar_url", "bio", "role", "is_verified",
              "is_active", "last_login", "created_at", "updated_at"),
    "focushub_auth.credentials": ("user_id", "password_hash", "updated_at"),
    "followers": ("id", "follower_id", "following_id", "created_at"),
    "posts": ("id", "author_id", "title", "content", "category", "tags", "likes_count",
              "comments_count", "is_published", "created_at", "updated_at"),
    "comments": ("id", "post_id", "author_id", "parent_id", "content", "likes_count",
                 "replies_count", "created_at", "updated_at"),
    "questions": ("id", "author_id", "title", "content", "category", "tags", "status",
                  "votes_count", "answers_count", "views_count", "created_at", "updated_at"),
    "answers": ("id", "question_id", "author_id", "content", "is_accepted", "votes_count",
                "created_at", "updated_at"),
    "ai_answers": ("id", "question_id", "answer_text", "confidence_score", "model_used",
                   "tokens_used", "processing_time_ms", "relevance_score", "completeness_score",
                   "user_feedback_rating", "generation_attempts", "created_at", "citations"),
    "resources": ("id", "title", "description", "author_id", "file_url", "file_name", "file_size",
                  "file_type", "category", "tags", "downloads_count", "is_public", "created_at",
                  "updated_at"),
    "votes": ("id", "user_id", "votable_type", "votable_id", "vote_type", "created_at"),
    "question_views": ("question_id", "viewer_key", "day"),
}

_STATUS = ("open", "answered", "closed")


def counts_for(scale: float) -> dict[str, int]:
    return {name: max(1, round(n * scale)) for name, n in BASE.items()}


def _rng(seed: int, stream: str) -> random.Random:
    # A string seed is hashed with SHA-512: the same stream on every run and platform.
    return random.Random(f"{seed}:{stream}")


def _ids(seed: int, table: str) -> Callable[[int], uuid.UUID]:
    """Row number -> UUID (version 4): a random prefix per table, the row number in the
    low 62 bits (below the variant and version bits, so distinct rows get distinct ids).

    Ids grow with the row number, as time-ordered ids do: COPY then appends to the
    primary key's B-tree instead of writing all over it, which at scale 10 is what
    bounds the load of comments and votes.
    """
    h = int.from_bytes(hashlib.blake2b(f"{seed}:{table}".encode(), digest_size=16).digest(), "big")
    base = uuid.UUID(int=h & ~((1 << 62) - 1), version=4).int
    # asyncpg's own UUID type (a uuid.UUID) built from bytes: five times cheaper than
    # uuid.UUID(int=...), whose checks were a quarter of the generator's time.
    return lambda i: UUID((base | i).to_bytes(16, "big"))


def _zipf_cum(n: int, s: float = 1.0) -> list[float]:
    return list(accumulate(1.0 / (i + 1) ** s for i in range(n)))


def _draw(rng: random.Random, cum: array | list[float], hi: int) -> int:
    """An index below ``hi`` with probability proportional to its weight (``cum`` cumulative)."""
    return bisect_right(cum, rng.random() * cum[hi - 1], 0, hi - 1)


def _sorted_uniforms(rng: random.Random, n: int) -> Iterator[float]:
    """``n`` uniforms on (0, 1) in decreasing order, one at a time (order statistics)."""
    u = 1.0
    for k in range(n, 0, -1):
        u *= rng.random() ** (1.0 / k)
        yield u


def _cum_in_place(cum: array, weight: Callable[[int, float], float]) -> None:
    """Replace the cumulative weights ``w_i`` by those of ``weight(i, w_i)``."""
    prev_old = prev_new = 0.0
    for i in range(len(cum)):
        w = cum[i] - prev_old
        prev_old = cum[i]
        prev_new += weight(i, w)
        cum[i] = prev_new


def _spread(rng: random.Random, cum: array, total: int, counts: array, cap: int | None = None,
            down: array | None = None) -> None:
    """Hand ``total`` events to items by weight, counting them per item.

    An item already at ``cap`` is drawn again (so totals are exact as long as
    the capacity allows); with ``down``, each event is a downvote with
    probability 1 - UP_SHARE and counted there as well.
    """
    n = len(cum)
    if n == 0 or cum[-1] <= 0:
        return
    given = 0
    tries = 0
    while given < total and tries < total * 20 + 1000:
        tries += 1
        i = _draw(rng, cum, n)
        if cap is not None and counts[i] >= cap:
            continue
        counts[i] += 1
        if down is not None and rng.random() >= UP_SHARE:
            down[i] += 1
        given += 1


class _Pools:
    """Sentences over a Zipf-like vocabulary, one pool per category (built once per data set)."""

    def __init__(self, rng: random.Random) -> None:
        # About 62 % common words, 28 % the category's subject words, 10 % rare
        # tail words, each list Zipf-distributed.
        common_cum = _zipf_cum(len(words.COMMON_WORDS))
        tail_cum = _zipf_cum(len(words.TAIL_WORDS), 1.05)
        general_cum = _zipf_cum(len(words.TOPIC_WORDS), 0.5)
        self.pools: dict[str | None, list[str]] = {}
        for cat in [None, *words.CATEGORIES]:
            subject = words.SUBJECT_WORDS[cat] if cat else words.TOPIC_WORDS
            subject_cum = _zipf_cum(len(subject), 0.9) if cat else general_cum
            pool = []
            for _ in range(1500):
                ws = []
                for _ in range(rng.randint(5, 18)):
                    r = rng.random()
                    if r < 0.62:
                        ws.append(rng.choices(words.COMMON_WORDS, cum_weights=common_cum)[0])
                    elif r < 0.90:
                        ws.append(rng.choices(subject, cum_weights=subject_cum)[0])
                    else:
                        ws.append(rng.choices(words.TAIL_WORDS, cum_weights=tail_cum)[0])
                pool.append(ws[0].capitalize() + " " + " ".join(ws[1:]) + rng.choice(".....?!"))
            self.pools[cat] = pool
        # Each category's pool also holds some general sentences.
        for cat in words.CATEGORIES:
            self.pools[cat] += self.pools[None][:200]
        self.tag_cum = _zipf_cum(len(words.TAGS), 0.9)


class _Text:
    """Titles, text and tags drawn from the shared pools with a table's own random stream."""

    def __init__(self, pools: _Pools, rng: random.Random) -> None:
        self.rng = rng
        self.pools = pools.pools
        self.tag_cum = pools.tag_cum

    def text(self, median_sentences: float, sigma: float, max_sentences: int,
             category: str | None = None) -> str:
        n = int(self.rng.lognormvariate(math.log(median_sentences), sigma)) + 1
        return " ".join(self.rng.choices(self.pools[category], k=min(n, max_sentences)))

    def title(self, category: str | None = None) -> str:
        subject = words.SUBJECT_WORDS[category] if category else words.TOPIC_WORDS
        ws = self.rng.choices(subject, k=self.rng.randint(2, 6))
        lead = self.rng.choice(("How do I", "Why does", "Help with", "Notes on", "Understanding",
                                "Question about", "Tips for", "Explain"))
        return f"{lead} {' '.join(ws)}"[:255]

    def tags(self, most: int) -> list[str]:
        k = self.rng.randint(0, most)
        return sorted(set(self.rng.choices(words.TAGS, cum_weights=self.tag_cum, k=k)))


@dataclass
class _Thread:
    """The replies of one post or question: their times, authors and (comments) parents."""

    item: int
    first: int  # row number of the first reply
    times: list[float]
    authors: list[int]
    parents: list[int]  # thread position of the parent, -1 for none


class Dataset:
    """The plan of a data set (compact arrays) and its rows, table by table, in chunks.

    Build with :func:`plan`. Timestamps are held as seconds before the anchor.
    """

    def __init__(self, scale: float, seed: int, anchor: datetime, password_hash: str) -> None:
        self.scale = scale
        self.seed = seed
        self.anchor = anchor
        self.password_hash = password_hash
        self.n = counts_for(scale)
        self.id = {t: _ids(seed, t) for t in ("users", "followers", "posts", "comments", "questions",
                                             "answers", "ai_answers", "resources", "votes")}
        self.rows: dict[str, int] = {}
        self.pools = _Pools(_rng(seed, "sentences"))

    # --------------------------------------------------------------- helpers
    def at(self, ago: float) -> datetime:
        return self.anchor - timedelta(seconds=ago)

    def _after(self, rng: random.Random, ago: float, power: float) -> float:
        """A moment between ``ago`` and the anchor, close to ``ago`` for large ``power``."""
        return ago * (1.0 - rng.random() ** power)

    def _author(self, rng: random.Random, ago: float) -> int:
        """A user who existed ``ago`` seconds before the anchor, by activity."""
        # Users are stored oldest first, so those who existed then are a prefix.
        hi = max(1, bisect_right(self.user_since, -ago))
        return _draw(rng, self.activity_cum, hi)

    def _category(self, rng: random.Random) -> int:
        if rng.random() < 0.1:
            return 0
        return _draw(rng, self.cat_cum, len(self.cat_cum)) + 1

    def _distinct_users(self, rng: random.Random, cum: array, k: int, exclude: int) -> list[int]:
        """``k`` distinct users other than ``exclude``, by weight (``k`` < number of users)."""
        nu = len(cum)
        chosen: set[int] = set()
        out: list[int] = []
        tries = 0
        while len(out) < k:
            tries += 1
            if tries <= 8 * k + 20:
                u = _draw(rng, cum, nu)
            else:  # nearly everyone is taken (tiny scales): walk on from a random user
                u = rng.randrange(nu)
                while u in chosen or u == exclude:
                    u = (u + 1) % nu
            if u != exclude and u not in chosen:
                chosen.add(u)
                out.append(u)
        return out

    # ---------------------------------------------------------------- threads
    def comment_threads(self) -> Iterator[_Thread]:
        """Each commented post's comments, in post order, oldest first (replayable)."""
        rng = _rng(self.seed, "comment-threads")
        first = 0
        for p in range(self.n["posts"]):
            k = self.post_comments[p]
            if not k:
                continue
            base = self.post_ago[p]
            times = sorted((self._after(rng, base, 3.0) for _ in range(k)), reverse=True)
            authors = [self._author(rng, t) for t in times]
            parents = [-1] * k
            for j in range(1, k):
                if rng.random() < 0.35:
                    parents[j] = int(j * rng.random() ** 0.5 * 0.999)
            yield _Thread(p, first, times, authors, parents)
            first += k

    def answer_threads(self) -> Iterator[_Thread]:
        """Each answered question's answers, in question order, oldest first (replayable)."""
        rng = _rng(self.seed, "answer-threads")
        first = 0
        for q in range(self.n["questions"]):
            k = self.q_answers[q]
            if not k:
                continue
            base = self.q_ago[q]
            times = sorted((self._after(rng, base, 3.0) for _ in range(k)), reverse=True)
            yield _Thread(q, first, times, [self._author(rng, t) for t in times], [])
            first += k

    # ------------------------------------------------------------------ rows
    def chunks(self, table: str) -> Iterator[list[Row]]:
        """The rows of ``table`` in COPY column order, at most :data:`CHUNK_ROWS` per list."""
        chunk: list[Row] = []
        count = 0
        for row in getattr(self, "_" + table.rpartition(".")[2])():
            chunk.append(row)
            if len(chunk) >= CHUNK_ROWS:
                count += len(chunk)
                yield chunk
                chunk = []
        if chunk:
            count += len(chunk)
            yield chunk
        self.rows[table] = count

    def records(self, table: str) -> Iterator[Row]:
        for chunk in self.chunks(table):
            yield from chunk

    def _users(self) -> Iterator[Row]:
        rng = _rng(self.seed, "users-rows")
        text = _Text(self.pools, _rng(self.seed, "users-text"))
        uid = self.id["users"]
        for i in range(self.n["users"]):
            first = rng.choice(words.FIRST_NAMES)
            last = rng.choice(words.LAST_NAMES)
            username = f"{first}_{last}{i}"
            r = rng.random()
            role = "admin" if r < 0.002 else "educator" if r < 0.08 else "student"
            since = -self.user_since[i]
            created = self.at(since)
            last_login = self.at(self._after(rng, since, 0.3)) if rng.random() < 0.8 else None
            # No picture: one is an upload (users_avatar_url_uploaded, 0048). The draw that
            # chose one is kept, so that every other value generated stays the same.
            rng.random()
            yield (
                uid(i), f"{username}@example.org", f"{first.capitalize()} {last.capitalize()}",
                username, None,
                text.text(2, 0.6, 10) if rng.random() < 0.4 else None,
                role, rng.random() < 0.8, rng.random() >= 0.005, last_login, created, created,
            )

    def _credentials(self) -> Iterator[Row]:
        uid = self.id["users"]
        for i in range(self.n["users"]):
            yield (uid(i), self.password_hash, self.anchor)

    def _followers(self) -> Iterator[Row]:
        rng = _rng(self.seed, "followers-rows")
        uid, fid = self.id["users"], self.id["followers"]
        row = 0
        for x in range(self.n["users"]):
            k = self.follows_out[x]
            if not k:
                continue
            for y in sorted(self._distinct_users(rng, self.popularity_cum, k, x)):
                ago = min(-self.user_since[x], -self.user_since[y])
                yield (fid(row), uid(x), uid(y), self.at(self._after(rng, ago, 1.5)))
                row += 1

    def _posts(self) -> Iterator[Row]:
        text = _Text(self.pools, _rng(self.seed, "posts-text"))
        uid, pid = self.id["users"], self.id["posts"]
        cats = (None, *words.CATEGORIES)
        for i in range(self.n["posts"]):
            cat = cats[self.post_cat[i]]
            created = self.at(self.post_ago[i])
            yield (pid(i), uid(self.post_author[i]), text.title(cat), text.text(8, 0.8, 150, cat),
                   cat, text.tags(5), self.post_likes[i], self.post_comments[i],
                   bool(self.post_published[i]), created, created)

    def _comments(self) -> Iterator[Row]:
        text = _Text(self.pools, _rng(self.seed, "comments-text"))
        uid, pid, cid = self.id["users"], self.id["posts"], self.id["comments"]
        cats = (None, *words.CATEGORIES)
        for th in self.comment_threads():
            replies = [0] * len(th.times)
            for parent in th.parents:
                if parent >= 0:
                    replies[parent] += 1
            cat = cats[self.post_cat[th.item]]
            post = pid(th.item)
            for j, ago in enumerate(th.times):
                created = self.at(ago)
                parent = th.parents[j]
                yield (cid(th.first + j), post, uid(th.authors[j]),
                       cid(th.first + parent) if parent >= 0 else None, text.text(1.5, 0.7, 40, cat),
                       self.comment_likes[th.first + j], replies[j], created, created)

    def _questions(self) -> Iterator[Row]:
        text = _Text(self.pools, _rng(self.seed, "questions-text"))
        uid, qid = self.id["users"], self.id["questions"]
        cats = (None, *words.CATEGORIES)
        for i in range(self.n["questions"]):
            cat = cats[self.q_cat[i]]
            created = self.at(self.q_ago[i])
            yield (qid(i), uid(self.q_author[i]), text.title(cat) + "?", text.text(5, 0.7, 120, cat),
                   cat, text.tags(5), _STATUS[self.q_status[i]],
                   self.q_votes[i] - 2 * self.q_down[i], self.q_answers[i], self.q_views[i],
                   created, created)

    def _answers(self) -> Iterator[Row]:
        text = _Text(self.pools, _rng(self.seed, "answers-text"))
        uid, qid, aid = self.id["users"], self.id["questions"], self.id["answers"]
        cats = (None, *words.CATEGORIES)
        for th in self.answer_threads():
            cat = cats[self.q_cat[th.item]]
            question = qid(th.item)
            accepted = self.q_accepted[th.item]
            for j, ago in enumerate(th.times):
                created = self.at(ago)
                a = th.first + j
                yield (aid(a), question, uid(th.authors[j]), text.text(6, 0.8, 150, cat),
                       j == accepted, self.a_votes[a] - 2 * self.a_down[a], created, created)

    def _ai_answers(self) -> Iterator[Row]:
        rng = _rng(self.seed, "ai-rows")
        text = _Text(self.pools, _rng(self.seed, "ai-text"))
        qid, xid = self.id["questions"], self.id["ai_answers"]
        cats = (None, *words.CATEGORIES)
        row = 0
        # Sources drawn from their own stream, so the rest of the rows are as before.
        sources = _rng(self.seed, "ai-sources")
        for q in range(self.n["questions"]):
            if rng.random() < 0.3:
                yield (xid(row), qid(q), text.text(10, 0.5, 120, cats[self.q_cat[q]]),
                       _dec(rng, 0.4, 1.0), "gpt-4o-mini", rng.randint(200, 1500),
                       rng.randint(800, 9000), _dec(rng, 0.3, 1.0), _dec(rng, 0.3, 1.0),
                       rng.choice((None, None, 3, 4, 5)), 1,
                       self.at(self._after(rng, self.q_ago[q], 6.0)), self._citations(sources))
                row += 1

    def _citations(self, rng: random.Random) -> str:
        """An answer's snapshot as a model's answer leaves it: three cited sources (two
        answers and a post) and one it was given but did not cite. The question page reads
        each again under the reader's policies (focushub/ai/queries.py), as it would for a
        real answer; the sources are any rows of those tables."""
        aid, pid = self.id["answers"], self.id["posts"]
        if not self.n["answers"] or not self.n["posts"]:
            return "[]"
        picked = [("answer", aid(rng.randrange(self.n["answers"]))),
                  ("answer", aid(rng.randrange(self.n["answers"]))),
                  ("post", pid(rng.randrange(self.n["posts"])))]
        entries: list[dict[str, object]] = [
            {"n": n, "type": kind, "id": str(ident), "title": f"Source {n}",
             "url": f"/{kind}s/{ident}", "quote": "..."}
            for n, (kind, ident) in enumerate(picked, 1)]
        entries.append({"n": 4, "type": "answer", "id": str(aid(rng.randrange(self.n["answers"]))),
                        "cited": False})
        return json.dumps(entries)

    def _resources(self) -> Iterator[Row]:
        rng = _rng(self.seed, "resources-rows")
        text = _Text(self.pools, _rng(self.seed, "resources-text"))
        uid, rid_of = self.id["users"], self.id["resources"]
        cats = (None, *words.CATEGORIES)
        since0 = -self.user_since[0]
        for i, u in enumerate(_sorted_uniforms(rng, self.n["resources"])):
            ago = since0 * u ** 1.5
            a = self._author(rng, ago)
            ext, kind = rng.choice(words.FILE_TYPES)
            created = self.at(ago)
            rid = rid_of(i)
            cat = cats[self._category(rng)]
            yield (
                rid, text.title(cat)[:255], text.text(2, 0.6, 20, cat) if rng.random() < 0.8 else None,
                uid(a), f"https://files.example.org/{rid}.{ext}", f"resource_{i}.{ext}",
                int(rng.lognormvariate(13, 1.5)), kind, cat, text.tags(4),
                int(rng.paretovariate(1.2)) - 1, rng.random() < 0.9, created, created,
            )

    def _votes(self) -> Iterator[Row]:
        rng = _rng(self.seed, "votes-rows")
        uid, vid = self.id["users"], self.id["votes"]
        row = 0

        def cast(kind: str, target: UUID, author: int, ago: float, k: int, down: int
                 ) -> Iterator[Row]:
            nonlocal row
            for n, u in enumerate(self._distinct_users(rng, self.activity_cum, k, author)):
                when = self._after(rng, min(ago, -self.user_since[u]), 2.0)
                yield (vid(row), uid(u), kind, target, "downvote" if n < down else "upvote",
                       self.at(when))
                row += 1

        pid = self.id["posts"]
        for p in range(self.n["posts"]):
            if self.post_likes[p]:
                yield from cast("post", pid(p), self.post_author[p], self.post_ago[p],
                                self.post_likes[p], 0)
        cid = self.id["comments"]
        for th in self.comment_threads():
            for j, ago in enumerate(th.times):
                c = th.first + j
                if self.comment_likes[c]:
                    yield from cast("comment", cid(c), th.authors[j], ago, self.comment_likes[c], 0)
        qid = self.id["questions"]
        for q in range(self.n["questions"]):
            if self.q_votes[q]:
                yield from cast("question", qid(q), self.q_author[q], self.q_ago[q],
                                self.q_votes[q], self.q_down[q])
        aid = self.id["answers"]
        for th in self.answer_threads():
            for j, ago in enumerate(th.times):
                a = th.first + j
                if self.a_votes[a]:
                    yield from cast("answer", aid(a), th.authors[j], ago, self.a_votes[a],
                                    self.a_down[a])

    def _question_views(self) -> Iterator[Row]:
        rng = _rng(self.seed, "views-rows")
        uid, qid = self.id["users"], self.id["questions"]
        nu = self.n["users"]
        for q in range(self.n["questions"]):
            k = self.q_views[q]
            if not k:
                continue
            question = qid(q)
            seen: set[int] = set()
            for _ in range(k):
                day = self.at(self._after(rng, self.q_ago[q], 1.0)).date()
                u = rng.randrange(nu) if rng.random() < 0.6 else -1
                if u >= 0 and u not in seen:
                    seen.add(u)
                    yield (question, str(uid(u)), day)
                else:  # anonymous: 128 random bits, distinct
                    yield (question, f"anon:{rng.getrandbits(128):032x}", day)


# The plan is drawn in these stages, in this order; a table's rows can be written as
# soon as the stage it needs is drawn (:data:`NEEDS`), while the rest is being drawn.
STAGES = ("users", "followers", "posts", "comments", "questions", "answers")
NEEDS = {
    "users": "users", "focushub_auth.credentials": "users", "resources": "users",
    "followers": "followers", "posts": "posts", "comments": "comments",
    "questions": "questions", "question_views": "questions", "ai_answers": "questions",
    "answers": "answers", "votes": "answers",
}


def plan(scale: float, seed: int, anchor: datetime, password_hash: str,
         drawn: Callable[[str, Dataset], None] | None = None) -> Dataset:
    """Draw the structure of the data set. Precondition: ``scale > 0``.

    ``drawn(stage, dataset)`` is called after each of :data:`STAGES`: from then on the
    tables that need that stage may be written (from another thread) while the plan
    goes on; the arrays of a drawn stage are not touched again.
    Memory: a few bytes per user, post, question, answer and comment.
    """
    ds = Dataset(scale, seed, anchor, password_hash)
    done = drawn or (lambda stage, ds: None)
    n = ds.n
    rng = _rng(seed, "plan")
    span = SPAN.total_seconds()

    # ------------------------------------------------------------------ users
    # Stored oldest first; user_since[i] is minus the seconds before the anchor
    # (ascending, so a prefix holds the users who existed at a moment).
    nu = n["users"]
    ds.user_since = array("d", (-span * u ** 0.7 for u in _sorted_uniforms(rng, nu)))
    activity = [rng.paretovariate(1.16) for _ in range(nu)]
    ds.activity_cum = array("d", accumulate(activity))
    ds.popularity_cum = array("d", accumulate(a * rng.lognormvariate(0, 1) for a in activity))
    del activity
    ds.cat_cum = _zipf_cum(len(words.CATEGORIES), 0.6)

    done("users", ds)

    # -------------------------------------------------------------- followers
    # Half the follows come from active users, half from anyone.
    ds.follows_out = array("i", bytes(4 * nu))
    if nu > 1:
        uniform = array("d", range(1, nu + 1))
        for source in (ds.activity_cum, uniform):
            _spread(rng, source, n["follows"] // 2 + (n["follows"] % 2 if source is uniform else 0),
                    ds.follows_out, cap=nu - 1)
        del uniform

    done("followers", ds)

    # ------------------------------------------------------------------ posts
    since0 = -ds.user_since[0]

    def timeline(count: int) -> tuple[array, array, bytearray]:
        ago = array("d", (since0 * u ** 1.5 for u in _sorted_uniforms(rng, count)))
        authors = array("i", (ds._author(rng, t) for t in ago))
        cats = bytearray(ds._category(rng) for _ in range(count))
        return ago, authors, cats

    np_ = n["posts"]
    ds.post_ago, ds.post_author, ds.post_cat = timeline(np_)
    ds.post_published = bytearray(rng.random() >= 0.04 for _ in range(np_))
    # Drafts get no comments and no likes: weight 0.
    post_cum = array("d", accumulate(
        rng.paretovariate(1.3) if ds.post_published[i] else 0.0 for i in range(np_)))
    ds.post_likes = array("i", bytes(4 * np_))
    _spread(rng, post_cum, round(n["votes"] * VOTE_SPLIT["post"]), ds.post_likes, cap=nu - 1)
    ds.post_comments = array("i", bytes(4 * np_))
    _spread(rng, post_cum, n["comments"], ds.post_comments)

    done("posts", ds)

    # --------------------------------------------------------------- comments
    # Comment likes: a post by popularity times its comment count, then one of
    # its comments, the early ones more often.
    nc = sum(ds.post_comments)
    first = array("i", accumulate(ds.post_comments, initial=0))
    _cum_in_place(post_cum, lambda i, w: w * ds.post_comments[i])
    ds.comment_likes = array("i", bytes(4 * nc))
    want = round(n["votes"] * VOTE_SPLIT["comment"])
    given = tries = 0
    while nc and given < want and tries < want * 20 + 1000:
        tries += 1
        p = _draw(rng, post_cum, np_)
        c = first[p] + int(ds.post_comments[p] * rng.random() ** 2)
        if ds.comment_likes[c] < nu - 1:
            ds.comment_likes[c] += 1
            given += 1
    del post_cum, first

    done("comments", ds)

    # -------------------------------------------------------------- questions
    nq = n["questions"]
    ds.q_ago, ds.q_author, ds.q_cat = timeline(nq)
    q_cum = array("d", accumulate(rng.paretovariate(1.3) for _ in range(nq)))
    ds.q_answers = array("i", bytes(4 * nq))
    _spread(rng, q_cum, n["answers"], ds.q_answers)
    ds.q_votes = array("i", bytes(4 * nq))
    ds.q_down = array("i", bytes(4 * nq))
    _spread(rng, q_cum, round(n["votes"] * VOTE_SPLIT["question"]), ds.q_votes, cap=nu - 1,
            down=ds.q_down)
    ds.q_views = array("i", bytes(4 * nq))
    _spread(rng, q_cum, n["question_views"], ds.q_views)
    # About 45 % of answered questions have an accepted answer; 4 % of all are closed.
    ds.q_accepted = array("i", [-1]) * nq
    ds.q_status = bytearray(nq)
    for q in range(nq):
        if ds.q_answers[q] and rng.random() < 0.45:
            ds.q_accepted[q] = rng.randrange(ds.q_answers[q])
            ds.q_status[q] = 1
        if rng.random() < 0.04:
            ds.q_status[q] = 2

    done("questions", ds)

    # ---------------------------------------------------------------- answers
    na = sum(ds.q_answers)
    first = array("i", accumulate(ds.q_answers, initial=0))
    _cum_in_place(q_cum, lambda i, w: w * ds.q_answers[i])
    ds.a_votes = array("i", bytes(4 * na))
    ds.a_down = array("i", bytes(4 * na))
    want = round(n["votes"] * VOTE_SPLIT["answer"])
    given = tries = 0
    while na and given < want and tries < want * 20 + 1000:
        tries += 1
        q = _draw(rng, q_cum, nq)
        a = first[q] + int(ds.q_answers[q] * rng.random() ** 2)
        if ds.a_votes[a] < nu - 1:
            ds.a_votes[a] += 1
            if rng.random() >= UP_SHARE:
                ds.a_down[a] += 1
            given += 1
    done("answers", ds)
    return ds


def generate(scale: float, seed: int, anchor: datetime, password_hash: str,
             drawn: Callable[[str, Dataset], None] | None = None) -> Dataset:
    """The data set of ``scale`` and ``seed``, ready to stream (see :meth:`Dataset.chunks`);
    ``drawn`` as for :func:`plan`."""
    return plan(scale, seed, anchor, password_hash, drawn)


def _dec(rng: random.Random, lo: float, hi: float) -> Decimal:
    return Decimal(f"{rng.uniform(lo, hi):.2f}")

