"""The openai: backend against a real local HTTP server: concurrency, retries, failures, secrets."""

from __future__ import annotations

import time

import pytest

from trustsim.backends import Request, SamplingConfig, load_backend
from trustsim.testing.chat_server import ChatServer, Script

SAMPLING = SamplingConfig(max_new_tokens=32, temperature=0.0)


def _requests(*prompts: str) -> list[Request]:
    return [
        Request(
            key=(p,), messages=({"role": "system", "content": "You are a ferryman."}, {"role": "user", "content": p})
        )
        for p in prompts
    ]


def _run(server: ChatServer, prompts, **options):
    backend = load_backend("openai:test-model", base_url=server.base_url, **options)
    done = []
    backend.generate(_requests(*prompts), SAMPLING, lambda request, completion: done.append((request, completion)))
    return {request.key[0]: completion for request, completion in done}, len(done)


def test_every_request_is_answered_with_bounded_concurrency():
    with ChatServer(Script(latency=0.05)) as server:
        results, calls = _run(server, [f"question {i}" for i in range(24)], concurrency=4)
    assert calls == 24
    assert all(c.ok and c.text.startswith("Yes. Echo: question") for c in results.values())
    assert server.max_in_flight == 4
    assert results["question 3"].prompt_tokens == 2 and results["question 3"].completion_tokens > 0


def test_429s_wait_as_long_as_retry_after_says():
    # The client's own backoff would wait about 0.4 s + 0.8 s for two retries; a Retry-After of
    # 20 ms must be honoured instead, and one of 400 ms must be waited out.
    for retry_after_ms, low, high in ((20, 0.0, 0.35), (400, 0.8, 3.0)):
        with ChatServer(Script(failures={"rate limited": [429, 429]}, retry_after_ms=retry_after_ms)) as server:
            start = time.monotonic()
            results, _ = _run(server, ["rate limited"])
            elapsed = time.monotonic() - start
        assert results["rate limited"].ok
        assert server.attempts["rate limited"] == 3
        assert low <= elapsed < high, (retry_after_ms, elapsed)


def test_5xx_is_retried_until_success():
    with ChatServer(Script(failures={"flaky": [500, 503]})) as server:
        results, _ = _run(server, ["flaky", "fine"])
    assert results["flaky"].ok and results["fine"].ok
    assert server.attempts["flaky"] == 3 and server.attempts["fine"] == 1


def test_a_4xx_fails_fast_with_the_servers_message_and_is_reported_not_dropped():
    with ChatServer(Script(always={"malformed": 400})) as server:
        results, calls = _run(server, ["malformed", "fine"])
    assert calls == 2
    assert server.attempts["malformed"] == 1
    bad = results["malformed"]
    assert not bad.ok and bad.text is None
    assert bad.error == "HTTP 400 from openai:test-model: bad request: unknown parameter"
    assert results["fine"].ok


def test_persistent_5xx_and_timeouts_end_as_recorded_failures():
    with ChatServer(Script(always={"down": 500}, hang={"slow": 2.0})) as server:
        results, calls = _run(server, ["down", "slow"], timeout=0.3, max_retries=1)
    assert calls == 2
    assert server.attempts["down"] == 2 and server.attempts["slow"] == 2
    assert results["down"].error.startswith("HTTP 500 from openai:test-model")
    assert results["slow"].error.startswith("openai:test-model timed out after 1 retries")


def test_api_key_comes_from_the_environment_and_is_not_in_settings(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-123")
    with ChatServer() as server:
        backend = load_backend("openai:test-model", base_url=server.base_url)
        backend.generate(_requests("hello"), SAMPLING, lambda *_: None)
    assert server.requests[0]["authorization"] == "Bearer sk-test-secret-123"
    assert "sk-test-secret-123" not in repr(backend.settings())
    body = server.requests[0]["body"]
    assert body["temperature"] == 0.0 and body["seed"] == 0 and body["max_tokens"] == 32


@pytest.mark.parametrize("spec", ["gpt-4o", "openai:", "azure:gpt-4o"])
def test_bad_specs_are_one_clear_error(spec):
    with pytest.raises(ValueError, match="must be one of openai:<model>, hf:<id or path>, vllm:<id>"):
        load_backend(spec)
