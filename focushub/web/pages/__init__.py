"""The web app's pages, one module per part of the site, gathered into one router.

Each module's routes are matched in the order they are declared there, and the modules in
the order below: where two paths could overlap (``/questions/ask`` and
``/questions/{question_id}``) the fixed one is declared first, within its module.
"""

from focushub.core.routing import Router
from focushub.web.pages import (
    admin,
    chat,
    notifications,
    people,
    posts,
    questions,
    reports,
    resources,
    sessions,
    settings,
)

router = Router(include_in_schema=False)
for part in (sessions, posts, questions, resources, people, notifications, reports, admin, chat,
             settings):
    router.include_router(part.router)
