"""Any OpenAI-compatible Chat Completions endpoint (OpenAI, Groq, Ollama, vLLM, llama.cpp).

Answers come whole or streamed (server-sent events, ``stream: true``), the text so
far handed to a callback as pieces arrive.

``POST {base_url}/chat/completions`` through httpx, with a timeout per request,
a token budget (``max_tokens``), and retries on 429 and 5xx that honour
``Retry-After`` (capped), then give up with :class:`LLMUnavailable`. An answer
that is not the protocol's JSON is :class:`LLMError` (not retried: the same
request would get the same answer).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

log = logging.getLogger("focushub.llm")

MAX_RETRY_AFTER_SECONDS = 30.0


class LLMError(Exception):
    """The provider answered something that is not a usable completion."""


class LLMUnavailable(LLMError):
    """The provider could not be reached or kept refusing (429/5xx, timeouts)."""


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def _retry_after(response: httpx.Response, attempt: int) -> float:
    value = response.headers.get("retry-after")
    if value:
        try:
            return min(MAX_RETRY_AFTER_SECONDS, max(0.0, float(value)))
        except ValueError:
            try:
                when = parsedate_to_datetime(value)
                return min(MAX_RETRY_AFTER_SECONDS,
                           max(0.0, (when - datetime.now(UTC)).total_seconds()))
            except (TypeError, ValueError):
                pass
    return min(MAX_RETRY_AFTER_SECONDS, 0.5 * 2 ** attempt)


class ChatCompletions:
    """A client of one endpoint and model. ``retries``: extra tries after the first."""

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None,
                 timeout: float = 30.0, retries: int = 2,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.retries = retries
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(base_url=self.base_url, headers=headers,
                                         timeout=httpx.Timeout(timeout), transport=transport)

    async def close(self) -> None:
        await self._client.aclose()

    async def complete(self, messages: list[dict[str, str]], *, max_tokens: int,
                       temperature: float = 0.2,
                       on_delta: Callable[[str], Awaitable[None]] | None = None) -> Completion:
        """The model's answer. With ``on_delta`` the answer is streamed (server-sent events)
        and ``on_delta`` gets the text so far each time a piece arrives; a retry starts the
        text over, so a listener simply shows the latest text."""
        body: dict[str, Any] = {"model": self.model, "messages": messages,
                                "max_tokens": max_tokens, "temperature": temperature,
                                "stream": on_delta is not None}
        if on_delta is not None:
            body["stream_options"] = {"include_usage": True}
        last: str = ""
        for attempt in range(self.retries + 1):
            try:
                if on_delta is not None:
                    streamed = await self._stream(body, on_delta)
                    if isinstance(streamed, Completion):
                        return streamed
                    response = streamed
                else:
                    response = await self._client.post("/chat/completions", json=body)
            except httpx.TimeoutException:
                last = "timed out"
                log.warning("llm: %s timed out (attempt %d)", self.base_url, attempt + 1)
                continue
            except httpx.TransportError as exc:
                last = f"unreachable: {exc}"
                await asyncio.sleep(min(MAX_RETRY_AFTER_SECONDS, 0.5 * 2 ** attempt))
                continue
            if response.status_code == 429 or response.status_code >= 500:
                last = f"HTTP {response.status_code}"
                if attempt < self.retries:
                    await asyncio.sleep(_retry_after(response, attempt))
                continue
            if response.status_code >= 400:
                raise LLMError(f"HTTP {response.status_code}: {response.text[:200]}")
            return _parse(response, self.model)
        raise LLMUnavailable(f"{self.base_url}: {last} after {self.retries + 1} attempts")


    async def _stream(self, body: dict[str, Any],
                      on_delta: Callable[[str], Awaitable[None]]) -> Completion | httpx.Response:
        """One streamed request: the completion, or the (error) response to retry or refuse."""
        async with self._client.stream("POST", "/chat/completions", json=body) as response:
            if response.status_code >= 400:
                await response.aread()
                return response
            parts: list[str] = []
            usage: dict[str, Any] = {}
            model = self.model
            events = 0
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                events += 1
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                try:
                    chunk = json.loads(data)
                    model = str(chunk.get("model") or model)
                    usage = chunk.get("usage") or usage
                    for choice in chunk.get("choices") or []:
                        piece = (choice.get("delta") or {}).get("content")
                        if isinstance(piece, str) and piece:
                            parts.append(piece)
                            await on_delta("".join(parts))
                except (ValueError, AttributeError, TypeError) as exc:
                    raise LLMError(f"not a chat completion stream: {exc}") from None
            if not events:
                raise LLMError("not a chat completion stream: no events")
            return Completion(text="".join(parts), model=model,
                              prompt_tokens=int(usage.get("prompt_tokens") or 0),
                              completion_tokens=int(usage.get("completion_tokens") or 0))


def _parse(response: httpx.Response, model: str) -> Completion:
    try:
        data: Any = response.json()
        text = data["choices"][0]["message"]["content"]
        usage = data.get("usage") or {}
        if not isinstance(text, str):
            raise TypeError("content is not text")
        return Completion(
            text=text, model=str(data.get("model") or model),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0))
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise LLMError(f"not a chat completion: {exc}") from None
