"""Builds the process's runtime with every domain's jobs and event bridges plugged in.

The server (focushub/app.py), the CLI and the worker (focushub/cli.py) call
:func:`build_runtime`; nothing else constructs an engine, a bus or a queue.
To add a job: declare it in ``<domain>/tasks.py`` on the domain's
:class:`~focushub.core.jobs.TaskSet` and list that set in :data:`TASK_SETS`.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from focushub.accounts import tasks as account_tasks
from focushub.ai import tasks as ai_tasks
from focushub.auth import events as session_events
from focushub.auth import tasks as auth_tasks
from focushub.chat import tasks as chat_tasks
from focushub.core import maintenance
from focushub.core.runtime import Runtime
from focushub.core.settings import Settings
from focushub.files import tasks as file_tasks
from focushub.notifications import events as notification_events
from focushub.questions import tasks as question_tasks
from focushub.resources import tasks as resource_tasks

TASK_SETS = (
    maintenance.tasks,
    auth_tasks.tasks,
    chat_tasks.tasks,
    question_tasks.tasks,
    file_tasks.tasks,
    resource_tasks.tasks,
    ai_tasks.tasks,
    account_tasks.tasks,
)


def build_runtime(settings: Settings, *, engine: AsyncEngine | None = None,
                  pool_size: int | None = None) -> Runtime:
    rt = Runtime.build(settings, engine=engine, pool_size=pool_size)
    rt.jobs.register(TASK_SETS)
    rt.bus.bridge(notification_events.DB_CHANNEL, notification_events.bridge)
    rt.bus.bridge(session_events.DB_CHANNEL, session_events.bridge)
    return rt
