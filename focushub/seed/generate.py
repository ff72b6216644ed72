"""Generate a reproducible data set with realistic shapes, as rows ready for COPY.

Shapes (scale 1): 10k users, 100k posts, 20k questions, 60k answers, 300k
comments, 500k votes, about 200k follows, 100k question views, 2k resources.

* Activity is power-law: each user has a Pareto weight (alpha 1.16, the 80/20
  law) that decides how often they post, comment, answer and vote; followers go
  to users by a popularity weight correlated with activity.
* Items (posts, questions, answers, comments) have their own Pareto popularity:
  comments, answers and votes concentrate on popular items.
* Timestamps are recent-biased, over the two years before the load time, and a
  reply is always later than what it replies to; some items fall in the last 30
  days, so the trending views have material.
* Text comes from a pool of sentences over a Zipf-like vocabulary; lengths are
  log-normal (posts about 600 characters median, comments about 120).
* Every counter (likes_count, comments_count, replies_count, votes_count,
  answers_count, views_count) is computed here from the generated rows, so a
  load needs no UPDATE pass and each counter equals its recount.

The same ``seed`` gives the same rows; timestamps are offsets from ``anchor``
(the load time rounded down to the hour), so two loads differ only by that shift.
"""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import accumulate
from operator import itemgetter
from typing import Any

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
SPAN = timedelta(days=730)

Row = tuple[Any, ...]


@dataclass
class Dataset:
    """Rows per table, in COPY column order (see :data:`COLUMNS`)."""

    anchor: datetime
    rows: dict[str, list[Row]] = field(default_factory=dict)


# Columns written by COPY, per table. Generated columns (search_vector) are left out.
COLUMNS: dict[str, tuple[str, ...]] = {
    "users": ("id", "email", "full_name", "username", "avatar_url", "bio", "role", "is_verified",
              "is_active", "last_login", "created_at", "updated_at"),
    "auth.credentials": ("user_id", "password_hash", "updated_at"),
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
                   "user_feedback_rating", "generation_attempts", "created_at"),
    "resources": ("id", "title", "description", "author_id", "file_url", "file_name", "file_size",
                  "file_type", "category", "tags", "downloads_count", "is_public", "created_at",
                  "updated_at"),
    "votes": ("id", "user_id", "votable_type", "votable_id", "vote_type", "created_at"),
    "question_views": ("question_id", "viewer_key", "day"),
}


def counts_for(scale: float) -> dict[str, int]:
    return {name: max(1, round(n * scale)) for name, n in BASE.items()}


class _Gen:
    def __init__(self, seed: int, anchor: datetime) -> None:
        self.rng = random.Random(seed)
        self.anchor = anchor
        rng = self.rng
        # One pool of sentences per category (and one for uncategorised items):
        # about 62 % common words, 28 % the category's subject words, 10 % rare
        # tail words, each list Zipf-distributed.
        common_cum = _zipf_cum(len(words.COMMON_WORDS))
        tail_cum = _zipf_cum(len(words.TAIL_WORDS), 1.05)
        general_subject = words.TOPIC_WORDS
        general_cum = _zipf_cum(len(general_subject), 0.5)
        self.pools: dict[str | None, list[str]] = {}
        for cat in [None, *words.CATEGORIES]:
            subject = words.SUBJECT_WORDS[cat] if cat else general_subject
            subject_cum = _zipf_cum(len(subject), 0.9) if cat else general_cum
            pool = []
            for _ in range(1500):
                n = rng.randint(5, 18)
                ws = []
                for _ in range(n):
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
        self.cat_cum = _zipf_cum(len(words.CATEGORIES), 0.6)

    def uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

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


    def category(self) -> str | None:
        if self.rng.random() < 0.1:
            return None
        return self.rng.choices(words.CATEGORIES, cum_weights=self.cat_cum)[0]

    def after(self, start: datetime, power: float) -> datetime:
        """A moment between ``start`` and the anchor, close to ``start`` for large ``power``."""
        span = (self.anchor - start).total_seconds()
        return start + timedelta(seconds=span * self.rng.random() ** power)

    def recent(self, since: datetime, power: float = 1.5) -> datetime:
        """A moment between ``since`` and the anchor, biased towards the anchor."""
        span = (self.anchor - since).total_seconds()
        return self.anchor - timedelta(seconds=span * self.rng.random() ** power)

    def pareto(self, n: int, alpha: float) -> list[float]:
        return [self.rng.paretovariate(alpha) for _ in range(n)]


def _zipf_cum(n: int, s: float = 1.0) -> list[float]:
    return list(accumulate(1.0 / (i + 1) ** s for i in range(n)))


def _pick(rng: random.Random, cum: list[float], k: int) -> list[int]:
    return rng.choices(range(len(cum)), cum_weights=cum, k=k)


def generate(scale: float, seed: int, anchor: datetime, password_hash: str) -> Dataset:
    """Build every row in memory. Precondition: ``scale > 0``."""
    g = _Gen(seed, anchor)
    rng = g.rng
    n = counts_for(scale)
    ds = Dataset(anchor=anchor)

    # ------------------------------------------------------------------ users
    nu = n["users"]
    user_ids = [g.uuid() for _ in range(nu)]
    user_created = [anchor - SPAN * rng.random() ** 0.7 for _ in range(nu)]
    activity = g.pareto(nu, 1.16)
    activity_cum = list(accumulate(activity))
    popularity = [a * rng.lognormvariate(0, 1) for a in activity]
    popularity_cum = list(accumulate(popularity))
    users: list[Row] = []
    for i in range(nu):
        first = rng.choice(words.FIRST_NAMES)
        last = rng.choice(words.LAST_NAMES)
        username = f"{first}_{last}{i}"
        r = rng.random()
        role = "admin" if r < 0.002 else "educator" if r < 0.08 else "student"
        created = user_created[i]
        last_login = g.after(created, 0.3) if rng.random() < 0.8 else None
        users.append((
            user_ids[i], f"{username}@example.org", f"{first.capitalize()} {last.capitalize()}",
            username, f"https://avatars.example.org/{i}.png" if rng.random() < 0.5 else None,
            g.text(2, 0.6, 10) if rng.random() < 0.4 else None,
            role, rng.random() < 0.8, rng.random() >= 0.005, last_login, created, created,
        ))
    ds.rows["users"] = users
    ds.rows["auth.credentials"] = [(uid, password_hash, anchor) for uid in user_ids]

    # -------------------------------------------------------------- followers
    follows: set[tuple[int, int]] = set()
    want = n["follows"]
    for _ in range(8):
        if len(follows) >= want or nu < 2:
            break
        k = (want - len(follows)) * 12 // 10 + 10
        a = _pick(rng, activity_cum, k) if rng.random() < 0.5 else [rng.randrange(nu) for _ in range(k)]
        b = _pick(rng, popularity_cum, k)
        for x, y in zip(a, b, strict=True):
            if x != y:
                follows.add((x, y))
                if len(follows) >= want:
                    break
    ds.rows["followers"] = [
        (g.uuid(), user_ids[x], user_ids[y], g.after(max(user_created[x], user_created[y]), 1.5))
        for x, y in sorted(follows)
    ]

    # ------------------------------------------------------------------ posts
    np_ = n["posts"]
    post_author = _pick(rng, activity_cum, np_)
    post_ids = [g.uuid() for _ in range(np_)]
    post_created = [g.recent(user_created[a]) for a in post_author]
    post_published = [rng.random() >= 0.04 for _ in range(np_)]
    post_pop = g.pareto(np_, 1.3)
    post_cat = [g.category() for _ in range(np_)]
    published_idx = [i for i in range(np_) if post_published[i]] or [0]
    published_cum = list(accumulate(post_pop[i] for i in published_idx))

    # --------------------------------------------------------------- comments
    nc = n["comments"]
    c_post = [published_idx[j] for j in _pick(rng, published_cum, nc)]
    c_author = _pick(rng, activity_cum, nc)
    c_created = [g.after(post_created[p], 3.0) for p in c_post]
    order = sorted(range(nc), key=lambda i: (c_post[i], c_created[i]))
    c_ids = [g.uuid() for _ in range(nc)]
    c_parent: list[int | None] = [None] * nc
    c_replies = [0] * nc
    post_comments = [0] * np_
    prev_post = -1
    thread: list[int] = []
    for i in order:
        if c_post[i] != prev_post:
            prev_post = c_post[i]
            thread = []
        if thread and rng.random() < 0.35:
            parent = thread[int(len(thread) * rng.random() ** 0.5 * 0.999)]
            c_parent[i] = parent
            c_replies[parent] += 1
        thread.append(i)
        post_comments[c_post[i]] += 1
    c_pop = [post_pop[c_post[i]] * rng.paretovariate(2.0) for i in range(nc)]

    # -------------------------------------------------------------- questions
    nq = n["questions"]
    q_author = _pick(rng, activity_cum, nq)
    q_ids = [g.uuid() for _ in range(nq)]
    q_created = [g.recent(user_created[a]) for a in q_author]
    q_pop = g.pareto(nq, 1.3)
    q_cat = [g.category() for _ in range(nq)]
    q_pop_cum = list(accumulate(q_pop))

    # ---------------------------------------------------------------- answers
    na = n["answers"]
    a_question = _pick(rng, q_pop_cum, na)
    a_author = _pick(rng, activity_cum, na)
    a_ids = [g.uuid() for _ in range(na)]
    a_created = [g.after(q_created[q], 3.0) for q in a_question]
    a_pop = [q_pop[a_question[i]] * rng.paretovariate(2.0) for i in range(na)]
    q_answers: list[list[int]] = [[] for _ in range(nq)]
    for i, q in enumerate(a_question):
        q_answers[q].append(i)
    a_accepted = [False] * na
    q_status = ["open"] * nq
    for q in range(nq):
        if q_answers[q] and rng.random() < 0.45:
            a_accepted[rng.choice(q_answers[q])] = True
            q_status[q] = "answered"
        if rng.random() < 0.04:
            q_status[q] = "closed"

    # ------------------------------------------------------------------ votes
    likes = {"post": [0] * np_, "comment": [0] * nc, "question": [0] * nq, "answer": [0] * na}
    targets = {
        "post": (post_ids, post_author, post_created, list(accumulate(post_pop)), 0.85),
        "comment": (c_ids, c_author, c_created, list(accumulate(c_pop)), 0.85),
        "question": (q_ids, q_author, q_created, q_pop_cum, 0.8),
        "answer": (a_ids, a_author, a_created, list(accumulate(a_pop)), 0.8),
    }
    votes: list[Row] = []
    for vtype, share in VOTE_SPLIT.items():
        ids, authors, created, cum, up_share = targets[vtype]
        want = round(n["votes"] * share)
        seen: set[tuple[int, int]] = set()
        for _ in range(10):
            if len(seen) >= want:
                break
            k = (want - len(seen)) * 13 // 10 + 10
            voters = _pick(rng, activity_cum, k)
            items = _pick(rng, cum, k)
            for u, t in zip(voters, items, strict=True):
                if authors[t] == u or (u, t) in seen:
                    continue
                if vtype == "post" and not post_published[t]:
                    continue
                seen.add((u, t))
                # Posts and comments are liked, never downvoted (0027).
                up = vtype in ("post", "comment") or rng.random() < up_share
                likes[vtype][t] += 1 if up else -1
                votes.append((g.uuid(), user_ids[u], vtype, ids[t], "upvote" if up else "downvote",
                              g.after(max(created[t], user_created[u]), 2.0)))
                if len(seen) >= want:
                    break
    ds.rows["votes"] = votes

    # --------------------------------------------------------- question views
    views: set[tuple[int, str, date]] = set()
    for q in _pick(rng, q_pop_cum, n["question_views"]):
        viewer = (str(user_ids[rng.randrange(nu)]) if rng.random() < 0.6
                  else f"anon:{rng.getrandbits(128):032x}")
        day = (g.after(q_created[q], 1.0)).date()
        views.add((q, viewer, day))
    q_views = [0] * nq
    for q, _, _ in views:
        q_views[q] += 1
    ds.rows["question_views"] = [(q_ids[q], viewer, day) for q, viewer, day in sorted(views)]

    # ------------------------------------------------------- rows with counters
    ds.rows["posts"] = [
        (post_ids[i], user_ids[post_author[i]], g.title(post_cat[i]),
         g.text(8, 0.8, 150, post_cat[i]), post_cat[i],
         g.tags(5), likes["post"][i], post_comments[i], post_published[i], post_created[i],
         post_created[i])
        for i in range(np_)
    ]
    ds.rows["comments"] = [
        (c_ids[i], post_ids[c_post[i]], user_ids[c_author[i]],
         c_ids[c_parent[i]] if c_parent[i] is not None else None, g.text(1.5, 0.7, 40, post_cat[c_post[i]]),
         likes["comment"][i], c_replies[i], c_created[i], c_created[i])
        for i in range(nc)
    ]
    ds.rows["questions"] = [
        (q_ids[i], user_ids[q_author[i]], g.title(q_cat[i]) + "?",
         g.text(5, 0.7, 120, q_cat[i]), q_cat[i],
         g.tags(5), q_status[i], likes["question"][i], len(q_answers[i]), q_views[i], q_created[i],
         q_created[i])
        for i in range(nq)
    ]
    ds.rows["answers"] = [
        (a_ids[i], q_ids[a_question[i]], user_ids[a_author[i]], g.text(6, 0.8, 150, q_cat[a_question[i]]),
         a_accepted[i],
         likes["answer"][i], a_created[i], a_created[i])
        for i in range(na)
    ]
    ai: list[Row] = []
    for q in range(nq):
        if rng.random() < 0.3:
            ai.append((g.uuid(), q_ids[q], g.text(10, 0.5, 120, q_cat[q]), _dec(rng, 0.4, 1.0), "gpt-4o-mini",
                       rng.randint(200, 1500), rng.randint(800, 9000), _dec(rng, 0.3, 1.0),
                       _dec(rng, 0.3, 1.0), rng.choice((None, None, 3, 4, 5)), 1,
                       g.after(q_created[q], 6.0)))
    ds.rows["ai_answers"] = ai
    resources: list[Row] = []
    for i in range(n["resources"]):
        a = _pick(rng, activity_cum, 1)[0]
        ext, kind = rng.choice(words.FILE_TYPES)
        created = g.recent(user_created[a])
        rid = g.uuid()
        cat = g.category()
        resources.append((
            rid, g.title(cat)[:255], g.text(2, 0.6, 20, cat) if rng.random() < 0.8 else None, user_ids[a],
            f"https://files.example.org/{rid}.{ext}", f"resource_{i}.{ext}",
            int(rng.lognormvariate(13, 1.5)), kind, cat, g.tags(4),
            int(rng.paretovariate(1.2)) - 1, rng.random() < 0.9, created, created,
        ))
    ds.rows["resources"] = resources
    # A live database appends rows as they are written, so its tables lie in
    # time order on disk; newest-first index walks then read neighbouring pages.
    # Store the rows the same way (the planner's created_at correlation near 1).
    for table, cols in COLUMNS.items():
        if "created_at" in cols:
            ds.rows[table].sort(key=itemgetter(cols.index("created_at")))
    return ds


def _dec(rng: random.Random, lo: float, hi: float) -> Decimal:
    return Decimal(f"{rng.uniform(lo, hi):.2f}")
