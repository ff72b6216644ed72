"""Any OpenAI-compatible Chat Completions endpoint (OpenAI, Groq, Ollama, vLLM, llama.cpp).

Answers come whole or streamed (server-sent events, ``stream: true``), the text so
far handed to a callback as pieces arrive.

``POST {base_url}/chat/completions`` through httpx, with a timeout per request
(the whole request, a streamed answer included: a model that sends a piece now and
then cannot hold it longer), a token budget (``max_tokens``), and retries on 429
and 5xx that honour ``Retry-After`` (capped), then give up with
:class:`LLMUnavailable`. An answer that is not the protocol's JSON, or a body that
cannot be decoded, is :class:`LLMError` (not retried: the same request would get
the same answer). What an answer carries is cleaned, not trusted: NUL characters
and lone surrogates (which PostgreSQL cannot store) are dropped, and token counts that are not
counts (negative, absurd, not numbers) count as 0. Its text is read up to
:data:`MAX_CHARS_PER_TOKEN` characters per token of ``max_tokens``: a model that
writes on past its budget is :class:`LLMError`, not an answer kept whole; so is a
stream that ends without ``[DONE]`` or a finish reason (cut off part-way).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

log = logging.getLogger("focushub.llm")

MAX_RETRY_AFTER_SECONDS = 30.0
# More tokens than any one request spends: a larger count is not a count.
MAX_TOKEN_COUNT = 10_000_000
# Characters of text per token of the budget beyond which an answer is not read further
# (a token is a few characters of prose; this allows long ones with room to spare).
MAX_CHARS_PER_TOKEN = 20


class LLMError(Exception):
    """The provider answered something that is not a usable completion."""


class LLMUnavailable(LLMError):
    """The provider could not be reached or kept refusing (429/5xx, timeouts)."""


def _too_long(max_tokens: int) -> LLMError:
    return LLMError(f"not a chat completion: the answer runs past the "
                    f"{max_tokens * MAX_CHARS_PER_TOKEN:,} characters max_tokens={max_tokens} "
                    f"could hold")


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


# NUL, and halves of surrogate pairs that JSON's escapes may carry alone (no character;
# PostgreSQL cannot store either, nor can UTF-8 encode the latter).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _clean(text: str) -> str:
    return _UNSTORABLE.sub("", text)


def _tokens(usage: Any, name: str) -> int:
    """``usage[name]`` if it is a plausible token count, else 0."""
    value = usage.get(name) if isinstance(usage, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    if not 0 <= value <= MAX_TOKEN_COUNT:
        return 0
    return int(value)


def _completion(text: str, model: Any, usage: Any, default_model: str) -> Completion:
    return Completion(text=_clean(text), model=_clean(str(model or default_model))[:200],
                      prompt_tokens=_tokens(usage, "prompt_tokens"),
                      completion_tokens=_tokens(usage, "completion_tokens"))


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
        self.timeout = timeout
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
                # httpx's timeout bounds each wait (connect, each read); this one the request.
                async with asyncio.timeout(self.timeout):
                    if on_delta is not None:
                        streamed = await self._stream(body, on_delta,
                                                      max_tokens * MAX_CHARS_PER_TOKEN)
                        if isinstance(streamed, Completion):
                            return streamed
                        response = streamed
                    else:
                        response = await self._client.post("/chat/completions", json=body)
            except (httpx.TimeoutException, TimeoutError):
                last = "timed out"
                log.warning("llm: %s timed out (attempt %d)", self.base_url, attempt + 1)
                continue
            except httpx.TransportError as exc:
                last = f"unreachable: {exc}"
                await asyncio.sleep(min(MAX_RETRY_AFTER_SECONDS, 0.5 * 2 ** attempt))
                continue
            except httpx.DecodingError as exc:
                raise LLMError(f"not a chat completion: the body cannot be decoded: {exc}") from None
            if response.status_code == 429 or response.status_code >= 500:
                last = f"HTTP {response.status_code}"
                if attempt < self.retries:
                    await asyncio.sleep(_retry_after(response, attempt))
                continue
            if response.status_code >= 400:
                raise LLMError(f"HTTP {response.status_code}: {response.text[:200]}")
            completion = _parse(response, self.model)
            if len(completion.text) > max_tokens * MAX_CHARS_PER_TOKEN:
                raise _too_long(max_tokens)
            return completion
        raise LLMUnavailable(f"{self.base_url}: {last} after {self.retries + 1} attempts")


    async def _stream(self, body: dict[str, Any], on_delta: Callable[[str], Awaitable[None]],
                      max_chars: int) -> Completion | httpx.Response:
        """One streamed request: the completion, or the (error) response to retry or refuse.
        Raises :class:`LLMError` once the text passes ``max_chars``, reading no further."""
        async with self._client.stream("POST", "/chat/completions", json=body) as response:
            if response.status_code >= 400:
                await response.aread()
                return response
            parts: list[str] = []
            usage: Any = {}
            model: Any = self.model
            events = 0
            size = 0
            # Said by [DONE] or a choice's finish_reason: a body that ends without either
            # was cut off (a proxy giving up on it), and holds only the start of an answer.
            ended = False
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                events += 1
                data = line[5:].strip()
                if data == "[DONE]":
                    ended = True
                    break
                try:
                    chunk = json.loads(data)
                    model = chunk.get("model") or model
                    usage = chunk.get("usage") or usage
                    for choice in chunk.get("choices") or []:
                        ended = ended or choice.get("finish_reason") is not None
                        piece = (choice.get("delta") or {}).get("content")
                        if isinstance(piece, str) and piece:
                            parts.append(_clean(piece))
                            size += len(parts[-1])
                            if size > max_chars:
                                raise _too_long(body["max_tokens"])
                            await on_delta("".join(parts))
                except (ValueError, AttributeError, TypeError) as exc:
                    raise LLMError(f"not a chat completion stream: {exc}") from None
            if not events:
                raise LLMError("not a chat completion stream: no events")
            if not ended:
                raise LLMError("not a chat completion stream: it ended before the answer did")
            return _completion("".join(parts), model, usage, self.model)


def _parse(response: httpx.Response, model: str) -> Completion:
    try:
        data: Any = response.json()
        text = data["choices"][0]["message"]["content"]
        if not isinstance(text, str):
            raise TypeError("content is not text")
        return _completion(text, data.get("model"), data.get("usage"), model)
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise LLMError(f"not a chat completion: {exc}") from None
