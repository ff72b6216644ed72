"""FastAPI dependency for the process's realtime bus."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from focushub.realtime.bus import RealtimeBus


async def get_bus(request: Request) -> RealtimeBus:
    return request.app.state.realtime


BusDep = Annotated[RealtimeBus, Depends(get_bus)]
