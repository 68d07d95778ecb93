"""Any OpenAI-compatible chat-completions server: vLLM, TGI, Ollama, llama.cpp, hosted APIs.

Retries follow the ``openai`` client's rules (exponential backoff with jitter on connection errors,
timeouts, 408/409/429 and 5xx, honouring ``Retry-After``; any other 4xx fails at once with the
server's message) but are made here, so that every attempt is held to its deadline. The API key is
read from ``OPENAI_API_KEY`` by the client and never stored, and every error text is redacted (a
server may echo the key back).

Whatever a server sends, one request fails alone: a reply that is not JSON, has no message, has
content that is not text, or usage that is not a count becomes a failed request with its reason, and
the run goes on. ``--timeout`` is a deadline for each attempt, however the server sends its bytes, so a
server that trickles a byte a second cannot hold a request longer. Before a stage sends its requests,
:meth:`OpenAIBackend.check` asks the server once (``/models``) and fails in seconds with the URL, the
model and the server's own message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
from collections.abc import Iterable, Sequence
from typing import Any

from tqdm.auto import tqdm

from trustsim import defaults
from trustsim.backends.base import Backend, Completion, OnDone, Request, SamplingConfig
from trustsim.secrets import redact, redact_url


class EndpointError(RuntimeError):
    """The server cannot be used at all (closed port, wrong URL, unknown model, bad key)."""


class OpenAIBackend(Backend):
    """Chat completions over HTTP with bounded concurrency."""

    concurrent_safe = True  # every generate() call runs its own client and event loop

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        concurrency: int = defaults.CONCURRENCY,
        timeout: float = defaults.TIMEOUT,
        max_retries: int = defaults.MAX_RETRIES,
        progress: str | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"--concurrency must be at least 1, not {concurrency}")
        if timeout <= 0:
            raise ValueError(f"--timeout must be more than 0 seconds, not {timeout:g}")
        if max_retries < 0:
            raise ValueError(f"--max-retries must be 0 or more, not {max_retries}")
        self.model = model
        self.spec = f"openai:{model}"
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL")
        self.concurrency = concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.progress = progress
        self._checked = False

    def settings(self) -> dict[str, Any]:
        return {"spec": self.spec, "base_url": redact_url(self.base_url)}

    @property
    def where(self) -> str:
        """The server, for messages (credentials removed)."""
        return redact_url(self.base_url) or "https://api.openai.com/v1 (no --base-url or OPENAI_BASE_URL)"

    def _client(self):
        from openai import AsyncOpenAI

        # Local servers (vLLM, llama.cpp) accept any key; hosted APIs read OPENAI_API_KEY.
        api_key = os.environ.get("OPENAI_API_KEY") or "EMPTY"
        return AsyncOpenAI(base_url=self.base_url, api_key=api_key, timeout=self.timeout, max_retries=0)

    def check(self) -> None:
        """Ask the server once, before any request: reachable, the key accepted, the model known.

        Fails in seconds with the URL, the model and the server's own message. A server that does not
        list models (or lists none) is taken at its word; the first request will tell.
        """
        if self._checked:
            return
        asyncio.run(self._check())
        self._checked = True

    async def _check(self) -> None:
        import openai

        async with self._client() as client:
            try:
                raw = await asyncio.wait_for(
                    client.models.with_raw_response.list(), timeout=min(self.timeout, defaults.CHECK_TIMEOUT)
                )
            except (asyncio.TimeoutError, openai.APITimeoutError):
                wait = min(self.timeout, defaults.CHECK_TIMEOUT)
                raise EndpointError(f"{self.spec}: {self.where} did not answer within {wait:g} s") from None
            except openai.APIConnectionError as err:
                raise EndpointError(f"{self.spec}: cannot reach {self.where} ({_cause(err)})") from None
            except openai.APIStatusError as err:
                if err.status_code in (404, 405, 501):
                    return  # no /models here (some proxies): nothing to check against
                raise EndpointError(
                    f"{self.spec}: {self.where} answered HTTP {err.status_code}: {_message(err)}"
                ) from None
        try:
            listed = [m.get("id") for m in json.loads(raw.text).get("data", []) if isinstance(m, dict)]
        except (ValueError, AttributeError):
            return
        if listed and self.model not in listed:
            shown = ", ".join(str(m) for m in listed[:10]) + (" ..." if len(listed) > 10 else "")
            raise EndpointError(f"{self.spec}: {self.where} does not serve {self.model!r}; it lists: {shown}")

    async def _one(
        self, client, semaphore: asyncio.Semaphore | None, request: Request, sampling: SamplingConfig
    ) -> Completion:
        """One request, each attempt held to the ``--timeout`` deadline, retried like the client would.

        The client's own retries are off (``max_retries=0``) because they cannot enforce a deadline: its
        read timeout restarts with every byte, so a trickling server would hold an attempt for ever.
        """
        import openai

        async with semaphore or contextlib.nullcontext():
            for attempt in range(self.max_retries + 1):
                last = attempt == self.max_retries
                try:
                    raw = await asyncio.wait_for(
                        client.chat.completions.with_raw_response.create(
                            model=self.model,
                            messages=list(request.messages),
                            max_tokens=sampling.max_new_tokens,
                            temperature=sampling.temperature,
                            top_p=sampling.top_p,
                            seed=sampling.seed,
                        ),
                        timeout=self.timeout,
                    )
                except (asyncio.TimeoutError, openai.APITimeoutError):
                    if last:
                        return self._failed(
                            f"{self.spec} timed out after {self.max_retries} retries "
                            f"(each attempt held to the {self.timeout:g} s deadline, --timeout)"
                        )
                    await asyncio.sleep(_backoff(attempt))
                except openai.APIStatusError as err:
                    if last or err.status_code not in RETRIED_STATUSES:
                        return self._failed(f"HTTP {err.status_code} from {self.spec}: {_message(err)}")
                    await asyncio.sleep(_retry_after(err) or _backoff(attempt))
                except openai.APIConnectionError as err:
                    if last:
                        reason = f"connection failed after {self.max_retries} retries"
                        return self._failed(f"{self.spec} {reason}: {_cause(err)}")
                    await asyncio.sleep(_backoff(attempt))
                else:
                    return self._completion(raw.text)
        raise AssertionError("unreachable")  # pragma: no cover - the loop always returns

    def _failed(self, error: str) -> Completion:
        return Completion(None, error=redact(" ".join(error.split()))[:500])

    def _completion(self, body: str) -> Completion:
        """The reply's text and usage, or a failed request saying what was wrong with the reply."""
        try:
            reply = json.loads(body)
        except ValueError:
            return self._failed(f"{self.spec} sent a reply that is not JSON: {body[:120]!r}")
        choices = reply.get("choices") if isinstance(reply, dict) else None
        first = choices[0] if isinstance(choices, list) and choices else None
        message = first.get("message") if isinstance(first, dict) else None
        if not isinstance(message, dict):
            return self._failed(f"{self.spec} sent a reply with no choices[0].message: {body[:120]!r}")
        text = message.get("content")
        if not isinstance(text, str):
            kind = "no content" if text is None else f"content that is a {type(text).__name__}, not text"
            return self._failed(f"{self.spec} sent a message with {kind}")
        usage = reply.get("usage") or {}
        counts = [usage.get(k, 0) for k in ("prompt_tokens", "completion_tokens")] if isinstance(usage, dict) else [-1]
        if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts):
            return self._failed(f"{self.spec} sent usage that is not token counts: {usage!r:.120}")
        # A lone surrogate (``"\ud800"`` is valid JSON) cannot be stored as UTF-8: keep it escaped.
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
        return Completion(text, prompt_tokens=counts[0], completion_tokens=counts[1])

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

    async def _stream(self, requests: Iterable[Request], sampling: SamplingConfig, on_done: OnDone) -> None:
        """Send each request the moment ``requests`` yields it (the iterator may block), at most
        ``concurrency`` in flight; used by the pipelined stages."""
        loop = asyncio.get_running_loop()
        slots = asyncio.Semaphore(self.concurrency)
        source, end = iter(requests), object()
        in_flight: set[asyncio.Task] = set()
        async with self._client() as client:
            with tqdm(desc=self.progress or self.spec, unit="req") as bar:

                async def send(request: Request) -> None:
                    try:
                        completion = await self._one(client, None, request, sampling)
                    finally:
                        slots.release()
                    on_done(request, completion)
                    bar.update()

                while True:
                    await slots.acquire()
                    request = await loop.run_in_executor(None, next, source, end)
                    if request is end:
                        break
                    task = asyncio.create_task(send(request))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                if in_flight:
                    await asyncio.gather(*in_flight)

    def generate(self, requests: Iterable[Request], sampling: SamplingConfig, on_done: OnDone) -> None:
        if isinstance(requests, Sequence):
            if not requests:
                return
            self.check()
            asyncio.run(self._run(requests, sampling, on_done))
            return
        self.check()
        asyncio.run(self._stream(requests, sampling, on_done))


#: Statuses worth another attempt (as the openai client retries them); any other 4xx fails at once.
RETRIED_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})


def _backoff(attempt: int) -> float:
    """Exponential backoff with jitter: about 0.5, 1, 2, 4, 8 s (the client's own schedule)."""
    return min(0.5 * 2**attempt, 8.0) * (0.75 + 0.25 * random.random())


def _retry_after(err: Exception) -> float | None:
    """The wait a 429/503 asks for (``retry-after-ms`` or ``retry-after`` seconds), capped at a minute."""
    headers = getattr(getattr(err, "response", None), "headers", None) or {}
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            value = float(headers.get(name)) * scale
        except (TypeError, ValueError):
            continue
        if 0 <= value <= 60:
            return value
    return None


def _cause(err: Exception) -> str:
    """The innermost reason of a connection error (``Connection refused``), on one line."""
    cause = err
    while cause.__cause__ is not None:
        cause = cause.__cause__
    return redact(" ".join(str(cause).split()) or type(cause).__name__)


def _message(err: Exception) -> str:
    """The server's own error message, on one line (the body of a 404 too), secrets redacted."""
    body = getattr(err, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        text = inner.get("message") if isinstance(inner, dict) else inner
        if text:
            return redact(" ".join(str(text).split()))[:300]
    response = getattr(err, "response", None)
    text = getattr(response, "text", None) if response is not None else None
    return redact(" ".join(str(text or getattr(err, "message", err)).split()))[:300]
