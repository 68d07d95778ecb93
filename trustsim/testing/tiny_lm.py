"""A tiny but real transformers causal LM and fast tokenizer, built offline on disk for tests.

The tokenizer is a byte-level BPE trained in a fraction of a second on the shipped dataset's text,
so every string round-trips; the model is a randomly initialised two-layer Llama. Both are saved with
``save_pretrained`` and loaded back the way a user's checkpoint would be.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]


def _corpus() -> list[str]:
    from trustsim.dataset import DEFAULT_DATASET_PATH, read_records, stored_files

    lines: list[str] = []
    for path in stored_files(Path(DEFAULT_DATASET_PATH)):
        for record in read_records(path):
            lines.extend(str(value) for value in record.values())
    return [*lines, "Yes", "No", "[[Satisfied]]", "[[Not Satisfied]]", "[[1]] [[2]] [[3]] [[4]] [[5]]"]


def build_tokenizer(chat_template: bool = True, vocab_size: int = 512):
    """A fast byte-level BPE tokenizer with pad/bos/eos and (optionally) a chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>", model_max_length=2048
    )
    if chat_template:
        fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_lm(path: Path, chat_template: bool = True, seed: int = 0, hidden_size: int = 64) -> Path:
    """Save a tiny Llama and its tokenizer to ``path``; returns ``path``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_tokenizer(chat_template=chat_template)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def preference_pairs(scores: Sequence[float], score_column: str = "chosen_score"):
    """A preference set in ``trustsim pairs``' format (TRL conversational), one row per score.

    Shared by the AdaORPO tests and benches, so they train on the same kind of data.
    """
    from datasets import Dataset

    rows = [
        {
            "id": f"p{i}",
            "question_type": "open_ended" if i % 2 else "self_report",
            "dimension": "Psychology",
            "chosen_model": "judge-favourite",
            "prompt": [
                {"role": "system", "content": "You are a retired farmer who distrusts banks."},
                {"role": "user", "content": f"Would you put your savings in a bank, case {i}?"},
            ],
            "chosen": [{"role": "assistant", "content": "No, I keep my money at home where I can see it."}],
            "rejected": [{"role": "assistant", "content": f"Yes, banks are safe {i}."}],
            score_column: float(score),
        }
        for i, score in enumerate(scores)
    ]
    return Dataset.from_list(rows)
