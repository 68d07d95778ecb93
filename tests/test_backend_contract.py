"""The backend contract (``trustsim.backends.base.Backend``), checked the same way for every backend.

``openai:`` talks to the real local chat server, ``hf:`` runs a tiny Llama, ``mock:`` needs nothing, and
``vllm:`` runs against a stand-in ``vllm`` module (no GPU here) that behaves like ``vllm.LLM``.
"""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from trustsim.backends import Backend, Completion, Request, SamplingConfig, load_backend
from trustsim.evaluation.generate import run_generation
from trustsim.evaluation.instances import dataset_reference, load_instances, select_instances
from trustsim.evaluation.judge import run_judging
from trustsim.paths import SHIPPED_DATASET
from trustsim.runs import RunDir
from trustsim.testing.chat_server import ChatServer
from trustsim.testing.tiny_lm import build_tiny_lm

SAMPLING = SamplingConfig(max_new_tokens=8, temperature=0.0, seed=0)
REQUESTS = [
    Request(key=(f"x-{i}", "self_report"), messages=({"role": "system", "content": "You are Ada."},
                                                     {"role": "user", "content": f"Question {i}?"}))
    for i in range(3)
]  # fmt: skip


class _FakeOutput:
    def __init__(self, text: str) -> None:
        self.outputs = [types.SimpleNamespace(text=f" {text} ", token_ids=[1, 2, 3])]
        self.prompt_token_ids = [7, 8]


class _FakeLLM:
    """What the vLLM backend uses of ``vllm.LLM``: a tokenizer with a chat template, ``chat`` and ``generate``."""

    calls: ClassVar[list[tuple[str, int, bool]]] = []

    def __init__(self, model: str, **options: Any) -> None:
        self.model = model

    def get_tokenizer(self) -> Any:
        return types.SimpleNamespace(chat_template="{{ messages }}")

    def chat(self, conversations: list, params: Any, use_tqdm: bool = True) -> list[_FakeOutput]:
        self.calls.append(("chat", len(conversations), use_tqdm))
        return [_FakeOutput(f"Yes. vllm answer to {c[-1]['content'][:20]}") for c in conversations]

    def generate(self, prompts: list, params: Any, use_tqdm: bool = True) -> list[_FakeOutput]:
        self.calls.append(("generate", len(prompts), use_tqdm))
        return [_FakeOutput("No.") for _ in prompts]


@pytest.fixture
def fake_vllm(monkeypatch: pytest.MonkeyPatch) -> Iterator[types.ModuleType]:
    module = types.ModuleType("vllm")
    module.LLM = _FakeLLM  # type: ignore[attr-defined]
    module.SamplingParams = lambda **kwargs: types.SimpleNamespace(**kwargs)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vllm", module)
    _FakeLLM.calls = []
    yield module


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_lm(tmp_path_factory.mktemp("contract") / "tiny")


@pytest.fixture(params=["openai", "hf", "vllm", "mock"])
def backend(request: pytest.FixtureRequest, tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    kind = request.param
    if kind == "openai":
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        with ChatServer() as server:
            yield load_backend("openai:served", base_url=server.base_url, concurrency=2)
        return
    if kind == "vllm":
        request.getfixturevalue("fake_vllm")
        yield load_backend("vllm:some/model", chunk_size=2)
        return
    if kind == "hf":
        yield load_backend(f"hf:{tiny_model}", batch_size=2, device="cpu")
        return
    yield load_backend("mock:contract")


def test_every_backend_keeps_the_contract(backend: Backend) -> None:
    assert isinstance(backend, Backend)
    assert backend.spec.split(":", 1)[0] in {"openai", "hf", "vllm", "mock"}
    assert backend.progress is None  # declared by the contract, so the stages can read and set it
    backend.progress = "contract check"
    done: list[tuple[Request, Completion]] = []
    backend.generate(REQUESTS, SAMPLING, lambda request, completion: done.append((request, completion)))
    assert sorted(r.key for r, _ in done) == sorted(r.key for r in REQUESTS)  # each reported exactly once
    assert all(c.ok and isinstance(c.text, str) for _, c in done)
    assert all(c.prompt_tokens >= 0 and c.completion_tokens >= 0 for _, c in done)
    settings = backend.settings()
    assert settings["spec"] == backend.spec
    json.dumps(settings)  # goes into run.json as it is
    backend.generate([], SAMPLING, lambda *_: pytest.fail("no request, no report"))


def test_likelihood_choice_is_declared_and_kept(backend: Backend) -> None:
    choices = ("Satisfied", "Not Satisfied")
    chosen: list[Completion] = []
    if not backend.supports_choice:
        with pytest.raises(NotImplementedError, match="token probabilities"):
            backend.choose(REQUESTS, SAMPLING, choices, lambda r, c: chosen.append(c))
        return
    backend.choose(REQUESTS, SAMPLING, choices, lambda r, c: chosen.append(c))
    assert len(chosen) == len(REQUESTS)
    for completion in chosen:
        assert set(completion.extra["choice_logprobs"]) == set(choices)
        best = max(choices, key=completion.extra["choice_logprobs"].__getitem__)
        assert completion.text.endswith(f"[[{best}]]")


def test_every_backend_runs_the_generate_and_judge_stages(backend: Backend, tmp_path: Path) -> None:
    """The stages read ``progress`` and ``supports_choice``; a vllm: run crashed here before."""
    instances = select_instances(load_instances(SHIPPED_DATASET), limit=2)
    run = RunDir(tmp_path / "run")
    reference = dataset_reference(SHIPPED_DATASET, "default", "test", instances)
    summary = run_generation(run, instances, backend, SAMPLING, reference)
    assert (summary.finished, summary.failed) == (4, 0)
    assert {r["model"] for r in run.read("responses.jsonl")} == {backend.spec}
    judged = run_judging(run, instances, [load_backend("mock:judge")], verdict_method="likelihood")
    assert judged.finished == 2 * 3 and judged.failed == 0


def test_the_vllm_backend_reports_chunks_and_uses_the_chat_template(fake_vllm: types.ModuleType) -> None:
    backend = load_backend("vllm:some/model", chunk_size=2)
    done: list[Completion] = []
    backend.generate(REQUESTS, SAMPLING, lambda r, c: done.append(c))
    assert [call[:2] for call in _FakeLLM.calls] == [("chat", 2), ("chat", 1)]  # chunks of 2, then 1
    assert done[0].text.startswith("Yes. vllm answer") and done[0].completion_tokens == 3


def test_a_judge_without_token_probabilities_is_parsed_and_says_so(tmp_path: Path, caplog) -> None:
    """The judge stage asks the backend (``supports_choice``), not ``hasattr``, whether it can choose."""

    class TextOnly(Backend):
        spec = "mock:text-only"

        def generate(self, requests, sampling, on_done):
            for request in requests:
                binary = "[[Satisfied]]" in str(request.messages)
                on_done(request, Completion("Fine. [[Satisfied]]" if binary else "[[4]]"))

    instances = select_instances(load_instances(SHIPPED_DATASET), limit=1)
    run = RunDir(tmp_path / "run")
    run_generation(run, instances, load_backend("mock:subject"), SAMPLING,
                   dataset_reference(SHIPPED_DATASET, "default", "test", instances))  # fmt: skip
    summary = run_judging(run, instances, [TextOnly()], verdict_method="likelihood")
    assert summary.finished == 3
    assert {r["method"] for r in run.read("judgments.jsonl")} == {"parse"}
    assert "cannot give token probabilities" in caplog.text
