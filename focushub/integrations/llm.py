"""Any OpenAI-compatible Chat Completions endpoint (OpenAI, Groq, Ollama, vLLM, llama.cpp).

``POST {base_url}/chat/completions`` through httpx, with a timeout per request,
a token budget (``max_tokens``), and retries on 429 and 5xx that honour
``Retry-After`` (capped), then give up with :class:`LLMUnavailable`. An answer
that is not the protocol's JSON is :class:`LLMError` (not retried: the same
request would get the same answer).
"""

from __future__ import annotations

import asyncio
import logging
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
                       temperature: float = 0.2) -> Completion:
        body = {"model": self.model, "messages": messages, "max_tokens": max_tokens,
                "temperature": temperature, "stream": False}
        last: str = ""
        for attempt in range(self.retries + 1):
            try:
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
