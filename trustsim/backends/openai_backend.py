"""Any OpenAI-compatible chat-completions server: vLLM, TGI, Ollama, llama.cpp, hosted APIs.

Retries are the ``openai`` client's own: exponential backoff with jitter on connection errors,
timeouts, 408/409/429 and 5xx, honouring ``Retry-After``; any other 4xx fails at once with the
server's message. The API key is read from ``OPENAI_API_KEY`` by the client and never stored.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from typing import Any

from tqdm.auto import tqdm

from trustsim import defaults
from trustsim.backends.base import Backend, Completion, OnDone, Request, SamplingConfig


class OpenAIBackend(Backend):
    """Chat completions over HTTP with bounded concurrency."""

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        concurrency: int = defaults.CONCURRENCY,
        timeout: float = defaults.TIMEOUT,
        max_retries: int = defaults.MAX_RETRIES,
        progress: str | None = None,
    ) -> None:
        self.model = model
        self.spec = f"openai:{model}"
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL")
        self.concurrency = concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.progress = progress

    def settings(self) -> dict[str, Any]:
        return {"spec": self.spec, "base_url": self.base_url}

    def _client(self):
        from openai import AsyncOpenAI

        # Local servers (vLLM, llama.cpp) accept any key; hosted APIs read OPENAI_API_KEY.
        api_key = os.environ.get("OPENAI_API_KEY") or "EMPTY"
        return AsyncOpenAI(base_url=self.base_url, api_key=api_key, timeout=self.timeout, max_retries=self.max_retries)

    async def _one(
        self, client, semaphore: asyncio.Semaphore, request: Request, sampling: SamplingConfig
    ) -> Completion:
        import openai

        async with semaphore:
            try:
                reply = await client.chat.completions.create(
                    model=self.model,
                    messages=list(request.messages),
                    max_tokens=sampling.max_new_tokens,
                    temperature=sampling.temperature,
                    top_p=sampling.top_p,
                    seed=sampling.seed,
                )
            except openai.APIStatusError as err:
                return Completion(None, error=f"HTTP {err.status_code} from {self.spec}: {_message(err)}")
            except openai.APIConnectionError as err:
                reason = "timed out" if isinstance(err, openai.APITimeoutError) else "connection failed"
                return Completion(None, error=f"{self.spec} {reason} after {self.max_retries} retries: {err}")
        text = reply.choices[0].message.content if reply.choices else None
        usage = reply.usage
        return Completion(
            text,
            error=None if text is not None else f"{self.spec} returned no message content",
            prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
            completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
        )

    async def _run(self, requests: Sequence[Request], sampling: SamplingConfig, on_done: OnDone) -> None:
        semaphore = asyncio.Semaphore(self.concurrency)
        async with self._client() as client:

            async def task(request: Request) -> tuple[Request, Completion]:
                return request, await self._one(client, semaphore, request, sampling)

            with tqdm(total=len(requests), desc=self.progress or self.spec, disable=not requests) as bar:
                for finished in asyncio.as_completed([task(r) for r in requests]):
                    request, completion = await finished
                    on_done(request, completion)
                    bar.update()

    def generate(self, requests: Sequence[Request], sampling: SamplingConfig, on_done: OnDone) -> None:
        asyncio.run(self._run(requests, sampling, on_done))


def _message(err: Exception) -> str:
    """The server's own error message, on one line."""
    body = getattr(err, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        text = inner.get("message") if isinstance(inner, dict) else inner
        if text:
            return " ".join(str(text).split())
    return " ".join(str(getattr(err, "message", err)).split())
