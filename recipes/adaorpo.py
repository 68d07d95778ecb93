"""AdaORPO recipe: TRUSTSIM preference pairs -> AdaORPO training -> TRUSTSIM evaluation -> model card -> Hub.

Launch (every set-up, and the pipeline that makes the pairs, is in recipes/README.md):

    accelerate launch recipes/adaorpo.py --config recipes/configs/paper.yaml \\
        --model_name_or_path meta-llama/Llama-3.1-8B-Instruct --dataset_name pairs/llama-3.1-8b \\
        --output_dir models/llama-3.1-8b-adaorpo \\
        --eval_judges openai:gpt-4o --baseline_run runs/llama-3.1-8b-adaorpo-test

    python recipes/adaorpo.py --config recipes/configs/tiny-cpu.yaml --dataset_name pairs/x --output_dir /tmp/tiny

The YAML gives the defaults and the command line overrides any of them (TRL's ``TrlParser``). The options come
from three dataclasses: :class:`RecipeArguments` below (data, evaluation, baseline), ``AdaORPOConfig`` (every
``TrainingArguments`` / ``ORPOConfig`` option plus ``adaptive_lr``, ``score_column``, ``score_normalizer``) and
TRL's ``ModelConfig`` (model, dtype, attention implementation, LoRA, 4-bit QLoRA).

Steps: load the pairs; load model and tokenizer; train (``--resume_from_checkpoint PATH|true`` resumes); save model,
tokenizer and trainer state on every process's behalf; then on the main process only: evaluate the saved model on
the TRUSTSIM ``adaorpo`` test split with the harness (when ``--eval_judges`` names a judge), write the model card
(``README.md`` in the output folder) and push the folder to the Hub (``--push_to_hub``; token from ``HF_TOKEN``).
Everything that can be checked before training (options, baseline run, evaluation folder, QLoRA on a machine
without GPU) is checked before the model is loaded, so a mistake costs seconds, not a training run.
"""

from __future__ import annotations

import sys

from trustsim.training.recipe import main

if __name__ == "__main__":
    sys.exit(main())
