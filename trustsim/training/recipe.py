"""The AdaORPO recipe's library part: options, checks, data and model loading, training, card and push.

``recipes/adaorpo.py`` is a thin script over :func:`run` (``accelerate launch recipes/adaorpo.py
--config recipes/configs/paper.yaml ...``); everything it does lives here, so tests and other scripts
import it like any module. The steps: :func:`prepare` checks every option that can be checked before
the model is loaded (a mistake costs seconds, not a training run); :func:`train` loads pairs, model and
tokenizer and trains on every process; :func:`publish`, on the main process only, evaluates the saved
model on the TRUSTSIM ``adaorpo`` test split, writes the model card and pushes the folder.
"""

from __future__ import annotations

import gc
import json
import logging
import sys
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from trl import ModelConfig, TrlParser, get_peft_config, get_quantization_config

from trustsim import defaults
from trustsim.backends.hf_backend import PLAIN_CHAT_TEMPLATE, hf_source
from trustsim.evaluation.config import VERDICT_METHODS
from trustsim.hub import HubError
from trustsim.paths import SHIPPED_DATASET
from trustsim.runs import METRICS, RESPONSES, RunDir
from trustsim.training.adaorpo import AdaORPOConfig, AdaORPOTrainer, QLoRARequiresGPUError, check_4bit_supported
from trustsim.training.model_card import (
    CardInputs,
    build_model_card,
    pairs_statistics,
    public_name,
    save_eval_results,
    save_model_card,
    scrub_secrets,
)

logger = logging.getLogger(__name__)

#: ``--chat_template`` value naming the library's plain transcript template.
PLAIN = "plain"
#: Where ``--merge_adapter`` keeps the trained adapter (an ``_`` folder: never pushed).
ADAPTER_FOLDER = "_adapter"

#: Columns ORPO trains on; the score column is checked by the trainer itself.
PAIR_COLUMNS = ("prompt", "chosen", "rejected")
#: Never uploaded with the model: intermediate checkpoints (optimizer state) and private files.
PUSH_IGNORE_PATTERNS = ["checkpoint-*", "_*"]


class RecipeError(ValueError):
    """A mistake in the recipe's options or inputs; reported as one line, before any training if possible."""


@dataclass
class RecipeArguments:
    """The recipe's own options: where the pairs are, and how (and whether) to evaluate the trained model."""

    dataset_name: str | None = field(
        default=None,
        metadata={
            "help": "Preference pairs: a `trustsim pairs` output folder (datasets.save_to_disk), or a Hub id / "
            "path for datasets.load_dataset. Columns prompt, chosen, rejected, chosen_score (+ id, "
            "question_type, dimension, chosen_model)."
        },
    )
    dataset_config: str | None = field(default=None, metadata={"help": "Config name for load_dataset."})
    dataset_train_split: str = field(default="train", metadata={"help": "Split to train on, if there are several."})
    max_prompt_length: int | None = field(
        default=None,
        metadata={
            "help": "Leave out (and count) pairs whose chat-formatted prompt is longer than this many tokens. "
            "The paper's 512; TRL's ORPOConfig no longer has this option."
        },
    )
    eval_judges: list[str] | None = field(
        default=None,
        metadata={
            "help": "Judge specs (openai:<model>, hf:<id>, ...). When given, the trained model is evaluated on "
            "TRUSTSIM's adaorpo test split after training and the card gets the numbers."
        },
    )
    eval_limit: int | None = field(
        default=None, metadata={"help": "Evaluate only the first N test instances (subjects in turn)."}
    )
    eval_dataset: str | None = field(
        default=None, metadata={"help": "TRUSTSIM dataset folder or Hub id (default: the repository's copy)."}
    )
    eval_output: str | None = field(
        default=None, metadata={"help": "Run directory of the evaluation (default: runs/<output folder name>)."}
    )
    eval_judge_base_url: str | None = field(
        default=None, metadata={"help": "Server of openai: judges (default: $OPENAI_BASE_URL)."}
    )
    eval_judge_verdict: str = field(
        default="parse",
        metadata={
            "help": "parse the judge's verdict, or (hf: judges) likelihood / calibrated likelihood.",
            "choices": list(VERDICT_METHODS),
        },
    )
    eval_judge_max_new_tokens: int = field(
        default=defaults.JUDGE_MAX_NEW_TOKENS,
        metadata={"help": "Judge reply length (0: a likelihood judge gives its verdict with no analysis)."},
    )
    eval_max_new_tokens: int = field(
        default=defaults.MAX_NEW_TOKENS, metadata={"help": "Answer length of the trained model."}
    )
    eval_batch_size: int = field(default=defaults.BATCH_SIZE, metadata={"help": "Prompts per batch for hf: models."})
    eval_concurrency: int = field(
        default=defaults.CONCURRENCY, metadata={"help": "Requests in flight per openai: judge."}
    )
    baseline_run: str | None = field(
        default=None,
        metadata={
            "help": "Run directory of the base model evaluated on the same split (trustsim eval --config adaorpo "
            "--split test): its metrics.json is the card's 'before' row."
        },
    )
    chat_template: str | None = field(
        default=None,
        metadata={
            "help": "Chat template for a base model without one: 'plain' (the User:/Assistant: transcript "
            "trustsim's hf: backend gives base models, so the trained model is evaluated on the format it "
            "learned) or a .jinja file. Saved with the tokenizer."
        },
    )
    card_note: str | None = field(
        default=None,
        metadata={"help": "A sentence in bold above the card's results (e.g.: a demo's numbers mean nothing)."},
    )
    merge_adapter: bool = field(
        default=False,
        metadata={
            "help": "Merge the LoRA adapter into the base weights after training: the output folder then holds "
            "the merged model (evaluated and pushed), the adapter is kept in <output_dir>/_adapter."
        },
    )


def make_parser() -> TrlParser:
    """The recipe's parser; tests parse every YAML under recipes/configs with it."""
    return TrlParser((RecipeArguments, AdaORPOConfig, ModelConfig))


# Checks made before anything heavy -------------------------------------------------------------------------


def fail_fast_on_4bit(argv: list[str]) -> None:
    """Refuse QLoRA on a machine without a GPU, in one line, before the full parse.

    The full parse would stop first at TrainingArguments' "Your setup doesn't support bf16/gpu", which names a
    symptom of the YAML (bf16) rather than the cause (4-bit weights need CUDA).
    """
    if any(arg in ("-h", "--help") for arg in argv):
        return
    model_args, _ = TrlParser((ModelConfig,)).parse_args_and_config(list(argv), return_remaining_strings=True)
    check_4bit_supported({"load_in_4bit": model_args.load_in_4bit})


def load_baseline(run_dir: str | Path) -> dict[str, Any]:
    """The base model's ``metrics.json``, refused if its run evaluated another split (the rows would not compare)."""
    run = RunDir(run_dir)
    path = run.file(METRICS)
    if not path.is_file():
        raise RecipeError(
            f"--baseline_run {run_dir}: no metrics.json; evaluate the base model first with "
            f"`trustsim eval --model hf:BASE --judge SPEC --config adaorpo --split test --output {run_dir}`"
        )
    dataset = run.manifest().get("dataset") or {}
    if dataset and (dataset.get("config"), dataset.get("split")) != ("adaorpo", "test"):
        raise RecipeError(
            f"--baseline_run {run_dir} was evaluated on {dataset.get('config')}/{dataset.get('split')}, not "
            "adaorpo/test: its numbers cannot be compared with the trained model's"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def eval_output_dir(script_args: RecipeArguments, output_dir: str) -> Path:
    """Where the evaluation run goes: ``--eval_output`` or ``runs/<output folder name>``."""
    return Path(script_args.eval_output) if script_args.eval_output else Path("runs") / Path(output_dir).name


def check_options(script_args: RecipeArguments, training_args: AdaORPOConfig, model_args: ModelConfig) -> None:
    """Every option mistake that would otherwise surface after (or deep inside) training."""
    if not script_args.dataset_name:
        raise RecipeError("--dataset_name is required: a `trustsim pairs` output folder or a Hub dataset id")
    if not model_args.model_name_or_path:
        raise RecipeError("--model_name_or_path is required")
    if training_args.hub_token:
        raise RecipeError(
            "--hub_token is not accepted (it would be saved in training_args.bin): export HF_TOKEN or log in with "
            "`hf auth login` instead"
        )
    if (model_args.load_in_4bit or model_args.load_in_8bit) and not model_args.use_peft:
        raise RecipeError("quantized base weights can only be trained through LoRA: add --use_peft true")
    if script_args.merge_adapter and not model_args.use_peft:
        raise RecipeError("--merge_adapter merges a LoRA adapter: add --use_peft true (or drop --merge_adapter)")
    if script_args.merge_adapter and (model_args.load_in_4bit or model_args.load_in_8bit):
        raise RecipeError(
            "--merge_adapter cannot merge into quantized base weights; train in bf16/fp32 or push the adapter"
        )
    if script_args.chat_template not in (None, PLAIN) and not Path(script_args.chat_template).is_file():
        raise RecipeError(f"--chat_template {script_args.chat_template}: not 'plain' and no such file")
    if script_args.max_prompt_length is not None and script_args.max_prompt_length < 1:
        raise RecipeError(f"--max_prompt_length must be at least 1, not {script_args.max_prompt_length}")
    if script_args.eval_judges:
        run_dir = eval_output_dir(script_args, training_args.output_dir)
        if (run_dir / RESPONSES).exists():
            raise RecipeError(
                f"{run_dir} already holds an evaluation (of an earlier model); the harness would resume it instead "
                "of evaluating the model trained now. Remove it or pass --eval_output"
            )


def resume_argument(value: str | None) -> str | bool | None:
    """``--resume_from_checkpoint`` as ``Trainer.train`` takes it: a folder, or True for the output's latest."""
    if value is None or value.strip().lower() in ("", "false", "no"):
        return None
    if value.strip().lower() in ("true", "yes", "last", "latest"):
        return True
    return value


# Data and model --------------------------------------------------------------------------------------------


def load_pairs(script_args: RecipeArguments) -> Any:
    """The training pairs: a ``save_to_disk`` folder through ``load_from_disk``, anything else ``load_dataset``."""
    from datasets import DatasetDict, load_dataset, load_from_disk

    name = script_args.dataset_name
    folder = Path(name)
    saved = folder.is_dir() and any((folder / f).is_file() for f in ("dataset_info.json", "dataset_dict.json"))
    data = load_from_disk(str(folder)) if saved else load_dataset(name, script_args.dataset_config)
    if isinstance(data, DatasetDict):
        split = script_args.dataset_train_split
        if split not in data:
            raise RecipeError(f"{public_name(name)} has no split {split!r} (it has {', '.join(data)})")
        data = data[split]
    missing = [column for column in PAIR_COLUMNS if column not in data.column_names]
    if missing:
        raise RecipeError(
            f"{public_name(name)} lacks column(s) {', '.join(missing)} (has {', '.join(data.column_names)}); "
            "make the pairs with `trustsim pairs`"
        )
    if len(data) == 0:
        raise RecipeError(f"{public_name(name)} holds no pairs")
    return data


def prompt_text(tokenizer: Any, prompt: Any) -> str:
    """The prompt as the trainer will see it: chat-formatted (with the assistant's opening) if it is messages."""
    if isinstance(prompt, str):
        return prompt
    return tokenizer.apply_chat_template(list(prompt), tokenize=False, add_generation_prompt=True)


def drop_long_prompts(data: Any, tokenizer: Any, max_prompt_length: int | None) -> tuple[Any, int]:
    """Pairs whose prompt fits ``max_prompt_length`` tokens, and how many were left out.

    Left out rather than cut: cutting a chat prompt removes the system prompt, i.e. the character the answer
    is judged against, and would teach the model to answer without its persona.
    """
    if not max_prompt_length:
        return data, 0
    keep = [
        i
        for i, prompt in enumerate(data["prompt"])
        if len(tokenizer(prompt_text(tokenizer, prompt), add_special_tokens=False)["input_ids"]) <= max_prompt_length
    ]
    dropped = len(data) - len(keep)
    if dropped:
        logger.warning("%d of %d pairs left out: prompt longer than %d tokens", dropped, len(data), max_prompt_length)
    if not keep:
        raise RecipeError(f"every pair's prompt is longer than max_prompt_length={max_prompt_length} tokens")
    return data.select(keep), dropped


def dequantized(model: Any) -> Any:
    """A model read from a GGUF file, unmarked as quantized: its weights already are ``dtype`` tensors.

    transformers dequantizes GGUF weights on load but keeps a GGUF quantizer on the model, and the Trainer
    refuses to train (and ``save_pretrained`` would record) a quantization method that does not train.
    """
    model.hf_quantizer = None
    model.is_quantized = False
    model.quantization_method = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    return model


def load_model_and_tokenizer(
    model_args: ModelConfig, training_args: AdaORPOConfig, quantization_config: Any, chat_template: str | None = None
) -> tuple[Any, Any]:
    """Model and tokenizer as ModelConfig describes them.

    Loaded here rather than by the trainer so that 4-bit weights land on this process's own GPU (the ORPO
    trainer's default ``device_map="auto"`` would spread one model over every GPU of a DDP machine).
    """
    import torch
    from accelerate import PartialState
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = model_args.dtype
    kwargs: dict[str, Any] = {
        "revision": model_args.model_revision,
        "attn_implementation": model_args.attn_implementation,
        "dtype": getattr(torch, dtype) if dtype not in (None, "auto") else dtype,
        "trust_remote_code": training_args.trust_remote_code,
    }
    if quantization_config is not None:
        kwargs["quantization_config"] = quantization_config
        kwargs["device_map"] = {"": PartialState().local_process_index}
    # Initialise the process group first: with FSDP's cpu_ram_efficient_loading only rank 0 then reads weights.
    _ = training_args.device
    if isinstance(training_args.model_init_kwargs, dict):
        kwargs.update(training_args.model_init_kwargs)
    training_args.model_init_kwargs = None  # the trainer refuses init kwargs together with a loaded model
    # A .gguf file is read from its folder plus its name (dequantized), like an hf: spec.
    source, gguf = hf_source(model_args.model_name_or_path)
    model = AutoModelForCausalLM.from_pretrained(source, **gguf, **{k: v for k, v in kwargs.items() if v is not None})
    if gguf:
        dequantized(model)
        # PEFT records this as the adapter's base_model_name_or_path: the file, so `hf:<adapter>` finds it.
        model.name_or_path = model.config._name_or_path = model_args.model_name_or_path
    tokenizer = AutoTokenizer.from_pretrained(
        source,
        **gguf,
        revision=model_args.model_revision,
        trust_remote_code=training_args.trust_remote_code,
    )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if chat_template == PLAIN:
        tokenizer.chat_template = PLAIN_CHAT_TEMPLATE
    elif chat_template:
        tokenizer.chat_template = Path(chat_template).read_text(encoding="utf-8")
    if not getattr(tokenizer, "chat_template", None):
        raise RecipeError(
            f"{public_name(model_args.model_name_or_path)} has no chat template, but the pairs are chat messages; "
            "train an instruct/chat model, or pass --chat_template plain (or a .jinja file) for a base model"
        )
    return model, tokenizer


# After training --------------------------------------------------------------------------------------------


def evaluate(script_args: RecipeArguments, model_dir: str) -> dict[str, Any]:
    """The trained model on TRUSTSIM's adaorpo test split, through the same harness as ``trustsim eval``."""
    from trustsim.backends import SamplingConfig
    from trustsim.evaluation import EvalConfig, run_eval
    from trustsim.evaluation.config import JUDGE_SAMPLING

    dataset = script_args.eval_dataset or (str(SHIPPED_DATASET) if SHIPPED_DATASET.is_dir() else None)
    config = EvalConfig(
        model=f"hf:{model_dir}",
        judges=list(script_args.eval_judges or []),
        output=eval_output_dir(script_args, model_dir),
        dataset=dataset,
        dataset_config="adaorpo",
        split="test",
        limit=script_args.eval_limit,
        sampling=SamplingConfig(max_new_tokens=script_args.eval_max_new_tokens),
        judge_sampling=replace(JUDGE_SAMPLING, max_new_tokens=script_args.eval_judge_max_new_tokens),
        verdict_method=script_args.eval_judge_verdict,
        backend_options={"batch_size": script_args.eval_batch_size, "concurrency": script_args.eval_concurrency},
        judge_base_url=script_args.eval_judge_base_url,
    )
    metrics = run_eval(config, echo=logger.info)
    if metrics is None:  # run_eval returns metrics whenever it scores, which the default stages do
        raise RuntimeError("the evaluation produced no metrics")
    return metrics


def create_hub_repo(repo_id: str, private: bool | None) -> str:
    """Create the model repo if needed; returns its full id (a bare name gets the user's namespace)."""
    from huggingface_hub import HfApi

    from trustsim.hub import hub_errors

    with hub_errors(repo_id):
        url = HfApi().create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    return str(getattr(url, "repo_id", repo_id))


def push_model_folder(folder: str | Path, repo_id: str, revision: str | None = None) -> str:
    """Upload the output folder (model, tokenizer, card; no checkpoints) once, after the card is written.

    The Trainer's own push would first overwrite README.md with TRL's generic card, so the upload is done here.
    The token comes from ``HF_TOKEN`` or the login cache, never from an argument.
    """
    from trustsim.hub import push_folder

    return push_folder(
        folder,
        repo_id,
        "model",
        "AdaORPO: model and card (recipes/adaorpo.py)",
        revision=revision,
        ignore_patterns=PUSH_IGNORE_PATTERNS,
        create_repo=False,  # created before training, so a bad repo id fails in seconds, not after it
    )


def merge_adapter(output_dir: str | Path, dtype: str | None = None) -> Path:
    """Merge the LoRA adapter saved in ``output_dir`` into its base weights, in place; returns the adapter's new home.

    The adapter files move to ``<output_dir>/_adapter`` first (an ``_`` folder is never pushed), then the base
    named in ``adapter_config.json`` is loaded in ``dtype`` (a ``.gguf`` base dequantized), the adapter applied
    and merged, and the full model saved in ``output_dir`` beside the tokenizer: ``hf:<output_dir>`` and the
    Hub then see an ordinary model, and the evaluation measures exactly what is pushed.
    """
    import shutil

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from trustsim.backends.hf_backend import ADAPTER_CONFIG, adapter_base_model

    folder = Path(output_dir)
    base_name = adapter_base_model(str(folder))
    if base_name is None:
        raise RecipeError(f"--merge_adapter: {folder} holds no {ADAPTER_CONFIG}; nothing to merge")
    adapter = folder / ADAPTER_FOLDER
    if adapter.exists():
        shutil.rmtree(adapter)
    adapter.mkdir()
    for path in list(folder.iterdir()):
        if path.is_file() and path.name.startswith("adapter_"):
            path.replace(adapter / path.name)
    source, gguf = hf_source(base_name)
    torch_dtype = getattr(torch, dtype) if dtype not in (None, "auto") else "auto"
    base = AutoModelForCausalLM.from_pretrained(source, **gguf, dtype=torch_dtype)
    if gguf:
        dequantized(base)
    merged = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
    merged.save_pretrained(str(folder))
    logger.info("LoRA adapter merged into %s; the adapter is kept in %s", public_name(base_name), adapter)
    del base, merged
    _release_memory()
    return adapter


def _release_memory() -> None:
    """Free the training copy of the model before the evaluation loads the saved one."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


@dataclass
class Plan:
    """What :func:`prepare` checked and settled before anything heavy is loaded."""

    script_args: RecipeArguments
    training_args: AdaORPOConfig
    model_args: ModelConfig
    quantization_config: Any
    peft_config: Any
    before: dict[str, Any] | None
    push_to_hub: bool
    recipe_config: str | None = None


@dataclass
class Trained:
    """What :func:`train` leaves for :func:`publish`: the facts the card needs, the model freed."""

    is_main: bool
    num_processes: int
    log_history: list[dict[str, Any]]
    data_stats: dict[str, Any]


def prepare(
    script_args: RecipeArguments,
    training_args: AdaORPOConfig,
    model_args: ModelConfig,
    recipe_config: str | None = None,
) -> Plan:
    """Every check that can be made before loading: options, QLoRA support, the baseline run."""
    check_options(script_args, training_args, model_args)
    quantization_config = get_quantization_config(model_args)
    check_4bit_supported(quantization_config, use_cpu=training_args.use_cpu)
    before = load_baseline(script_args.baseline_run) if script_args.baseline_run else None
    # Pushed once at the end, with this recipe's card: the Trainer would push every checkpoint with TRL's card.
    push_to_hub, training_args.push_to_hub = training_args.push_to_hub, False
    return Plan(
        script_args,
        training_args,
        model_args,
        quantization_config,
        get_peft_config(model_args),
        before,
        push_to_hub,
        recipe_config,
    )


def train(plan: Plan) -> Trained:
    """Load the pairs, model and tokenizer, train (resuming if asked) and save, on every process."""
    script_args, training_args = plan.script_args, plan.training_args
    pairs = load_pairs(script_args)
    model, tokenizer = load_model_and_tokenizer(
        plan.model_args, training_args, plan.quantization_config, script_args.chat_template
    )
    pairs, dropped = drop_long_prompts(pairs, tokenizer, script_args.max_prompt_length)
    data_stats = {**pairs_statistics(pairs, training_args.score_column), "dropped_long_prompts": dropped}

    trainer = AdaORPOTrainer(
        model=model, args=training_args, train_dataset=pairs, processing_class=tokenizer, peft_config=plan.peft_config
    )
    trainer.train(resume_from_checkpoint=resume_argument(training_args.resume_from_checkpoint))
    trainer.save_model(training_args.output_dir)  # every process: FSDP gathers the full state dict
    trainer.save_state()  # trainer_state.json (log history with adaptive_lr_factor), main process only
    trainer.accelerator.wait_for_everyone()
    trained = Trained(
        is_main=trainer.accelerator.is_main_process,
        num_processes=trainer.accelerator.num_processes,
        log_history=list(trainer.state.log_history),
        data_stats=data_stats,
    )
    trainer.end()  # the steps below need no other process
    del trainer, model
    _release_memory()
    return trained


def publish(plan: Plan, trained: Trained) -> Path:
    """On the main process: evaluate the saved model, write its card, push the folder; returns the card."""
    script_args, training_args, model_args = plan.script_args, plan.training_args, plan.model_args
    output_dir = training_args.output_dir
    logger.info("model saved to %s", output_dir)
    merged = bool(script_args.merge_adapter and plan.peft_config is not None)
    if merged:
        merge_adapter(output_dir, model_args.dtype)
    after, eval_failure = None, None
    if script_args.eval_judges:
        try:
            after = evaluate(script_args, output_dir)
        except Exception as error:  # the trained model is saved: still write its card, then report the failure
            eval_failure = type(error).__name__
            logger.error("the evaluation failed:\n%s", scrub_secrets(traceback.format_exc()))
    model_name = (training_args.hub_model_id or Path(output_dir).resolve().name).split("/")[-1]
    repo_id = training_args.hub_model_id or model_name
    if plan.push_to_hub and not eval_failure:
        repo_id = create_hub_repo(repo_id, training_args.hub_private_repo)
    card = build_model_card(
        CardInputs(
            model_name=model_name,
            base_model=model_args.model_name_or_path,
            dataset=script_args.dataset_name,
            training_args=training_args,
            repo_id=repo_id,
            num_processes=trained.num_processes,
            model_dtype=model_args.dtype,
            peft_config=plan.peft_config,
            quantization_config=plan.quantization_config,
            max_prompt_length=script_args.max_prompt_length,
            data_stats=trained.data_stats,
            log_history=trained.log_history,
            after=after,
            before=plan.before,
            judges=list(script_args.eval_judges or []),
            eval_dataset=script_args.eval_dataset or "trustsim_dataset",
            recipe_config=plan.recipe_config,
            eval_failure=eval_failure,
            merged=merged,
            note=script_args.card_note,
        )
    )
    card_path = save_model_card(card, output_dir)
    if after is not None:  # the Hub's .eval_results format beside the card's model-index, pushed with the model
        save_eval_results(output_dir, after, script_args.eval_dataset, script_args.eval_judges or [])
    logger.info("model card written to %s", card_path)
    if eval_failure:
        raise RecipeError(
            f"the evaluation failed ({eval_failure}, traceback above); the model and its card are saved in "
            f"{output_dir}{' and were not pushed' if plan.push_to_hub else ''}. `trustsim eval --model "
            f"hf:{output_dir} --judge ... --config adaorpo --split test --output "
            f"{eval_output_dir(script_args, output_dir)}` resumes the evaluation"
        )
    if plan.push_to_hub:
        url = push_model_folder(output_dir, repo_id, training_args.hub_revision)
        logger.info("pushed to the Hub: %s", url)
    return card_path


def run(
    script_args: RecipeArguments,
    training_args: AdaORPOConfig,
    model_args: ModelConfig,
    recipe_config: str | None = None,
) -> Path | None:
    """The whole recipe on parsed options; returns the card's path on the main process, None elsewhere."""
    plan = prepare(script_args, training_args, model_args, recipe_config)
    trained = train(plan)
    return publish(plan, trained) if trained.is_main else None


def config_name(argv: list[str]) -> str | None:
    """The YAML's file name (never its path) for the card's "Reproduce" line."""
    if "--config" in argv and argv.index("--config") + 1 < len(argv):
        return Path(argv[argv.index("--config") + 1]).name
    return None


def main(argv: list[str] | None = None) -> int:
    """Parse, run, and turn the recipe's own refusals into one ``error:`` line and exit status 2."""
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    try:
        fail_fast_on_4bit(argv)
        script_args, training_args, model_args = make_parser().parse_args_and_config(argv)
        run(script_args, training_args, model_args, recipe_config=config_name(argv))
    except (QLoRARequiresGPUError, RecipeError, HubError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
