"""A Chat Completions server on loopback that answers from a script, for the AI tests.

It speaks the protocol over real HTTP (uvicorn): each request takes the next step
of ``script`` (an answer, fixed or made from the request, a 429 with Retry-After, a 500, a pause longer than the
client's timeout, a body that is not JSON, or raw bytes with headers of the step's
choosing) and is kept in ``requests``. An answer to a request with ``stream: true``
comes as server-sent events, in pieces; a "trickle" step sends its pieces
``seconds`` apart.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.realtime.conftest import free_port


@dataclass
class Step:
    kind: str  # "answer", "429", "500", "slow", "malformed", "raw", "trickle"
    text: str = ""
    seconds: float = 0.0
    body: bytes = b""  # "raw": the response body, sent as it is
    headers: dict[str, str] = field(default_factory=dict)  # "raw": its headers
    pieces: int = 3  # "trickle": how many pieces the answer comes in
    # "answer": the text made from the request's body (a reply citing what it was given)
    reply: Callable[[dict[str, Any]], str] | None = None


@dataclass
class ScriptedLLM:
    url: str
    script: list[Step] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def answer(self, text: str) -> None:
        self.script.append(Step("answer", text))


async def _events(model: str, text: str, pieces: int = 3,
                  pause: float = 0.01):  # noqa: ANN202
    """The answer as server-sent events, in ``pieces`` pieces ``pause`` seconds apart, then
    usage and [DONE]."""
    size = max(1, -(-len(text) // pieces))
    for start in range(0, len(text), size):
        chunk = {"model": model,
                 "choices": [{"index": 0, "delta": {"content": text[start:start + size]}}]}
        yield f"data: {json.dumps(chunk)}\n\n"
        await asyncio.sleep(pause)
    usage = {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150}
    yield f"data: {json.dumps({'model': model, 'choices': [], 'usage': usage})}\n\n"
    yield "data: [DONE]\n\n"


def _app(llm: ScriptedLLM) -> Starlette:
    async def completions(request: Request) -> Response:
        body = await request.json()
        llm.requests.append(body)
        step = llm.script.pop(0) if llm.script else Step("500")
        text = step.reply(body) if step.reply else step.text
        if step.kind == "429":
            return JSONResponse({"error": {"message": "slow down"}}, 429,
                                headers={"Retry-After": str(step.seconds)})
        if step.kind == "500":
            return JSONResponse({"error": {"message": "overloaded"}}, 500)
        if step.kind == "slow":
            await asyncio.sleep(step.seconds)
        if step.kind == "malformed":
            return Response("<html>gateway error</html>", 200, media_type="text/html")
        if step.kind == "raw":
            return Response(step.body, 200, headers=step.headers)
        if step.kind == "trickle":
            return StreamingResponse(_events(body["model"], step.text, step.pieces, step.seconds),
                                     media_type="text/event-stream")
        if body.get("stream"):
            return StreamingResponse(_events(body["model"], text),
                                     media_type="text/event-stream")
        return JSONResponse({
            "id": "chatcmpl-test", "object": "chat.completion", "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150},
        })

    return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])


@pytest.fixture(scope="module")
def llm_server() -> Iterator[ScriptedLLM]:
    port = free_port()
    llm = ScriptedLLM(f"http://127.0.0.1:{port}/v1")
    server = uvicorn.Server(uvicorn.Config(_app(llm), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the Chat Completions test server did not start"
        time.sleep(0.05)
    try:
        yield llm
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def llm(llm_server: ScriptedLLM) -> Iterator[ScriptedLLM]:
    llm_server.script.clear()
    llm_server.requests.clear()
    yield llm_server
