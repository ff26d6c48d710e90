# Settings shared by rl/rollout.sh and rl/grpo.sh (sourced by both, never run on its own).
#
# The rollout server and the trainer must agree on everything that shapes a conversation:
# the model, the turn limit, how videos are sampled (ms-swift reads the overview under these
# environment variables on both sides; our clips are cut under the same pixel budget) and
# where clip files live (the server writes them, the trainer reads them). Keeping the values
# in one file is what keeps them equal. Every value is an environment variable with a default;
# set it before calling either script to override it.

RL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# --- model and data ------------------------------------------------------------------------
# The policy to start from: the release starts GRPO from the cold-start SFT checkpoint, so the
# default is the newest checkpoint sft/sft.sh wrote (output/sft/v*/checkpoint-*).
if [ -z "${MODEL:-}" ]; then
  MODEL=$(ls -d "$RL_ROOT"/output/sft/v*/checkpoint-* 2>/dev/null | sort -V | tail -n 1 || true)
fi
: "${MODEL_TYPE:=}"                                  # empty: ms-swift reads it from config.json
# The chat template, named: ms-swift 4 maps the qwen2_5_vl model type to two templates
# (qwen2_5_vl, mimo_vl) and refuses to guess; ms-swift 3.10 infers the same qwen2_5_vl.
: "${TEMPLATE:=${MODEL_TYPE:-qwen2_5_vl}}"
: "${RL_DATA:=$RL_ROOT/rl/data}"
: "${DATASETS:=$RL_DATA/qa.jsonl $RL_DATA/grounding.jsonl}"
: "${OUTPUT_DIR:=$RL_ROOT/output/rl}"

# --- the environment (docs/design.md §1, §6) ------------------------------------------------------
: "${MAX_TURNS:=3}"
MAX_CLIPS_PER_CALL=3      # fixed by the protocol (and the format reward): not a knob
# Videos one conversation can hold: the overview, then up to 3 clips on every turn but the last.
MAX_VIDEOS=$((1 + (MAX_TURNS - 1) * MAX_CLIPS_PER_CALL))

# --- the release's training frame budget (docs/design.md §3) --------------------------------------
# The same defaults as sft/sft.sh (videotemp_o3.budgets.TRAINING_VIDEO_ENV; a test keeps them
# in step): the release sets VIDEO_MIN_PIXELS = VIDEO_MAX_PIXELS = 50176 (left at qwen-vl-utils'
# 100352, the minimum would win and frames would get about twice the pixels).
export VIDEO_MAX_PIXELS=${VIDEO_MAX_PIXELS:-50176}
export VIDEO_MIN_PIXELS=${VIDEO_MIN_PIXELS:-$VIDEO_MAX_PIXELS}
export FPS_MAX_FRAMES=${FPS_MAX_FRAMES:-512}
# Clips: 2 fps, 4-64 frames unless overridden (videotemp_o3.training.rl_env).
export VIDEOTEMP_CLIP_DIR=${VIDEOTEMP_CLIP_DIR:-$OUTPUT_DIR/clips}

# --- the wording: a prompt profile (README "Prompt profiles"; default: ours) ---------------------
# The environment (in the rollout server, or in the trainer in colocate mode) writes its tool
# feedback in this profile's wording; build the rows with `rl_data build --prompt-profile` and
# the same file, so that the prompts and the feedback agree.
if [ -n "${PROMPT_PROFILE:-}" ]; then
  if [ ! -f "$PROMPT_PROFILE" ]; then
    echo "[$(basename "$0")] prompt profile not found: $PROMPT_PROFILE (PROMPT_PROFILE)" >&2
    exit 2
  fi
  VIDEOTEMP_PROMPT_PROFILE=$(cd "$(dirname "$PROMPT_PROFILE")" && pwd)/$(basename "$PROMPT_PROFILE")
  export VIDEOTEMP_PROMPT_PROFILE
fi

# --- the rollout server ------------------------------------------------------------------------
: "${ROLLOUT_HOST:=127.0.0.1}"
: "${ROLLOUT_PORT:=8000}"

# --- ms-swift ----------------------------------------------------------------------------------
if [ -z "${SWIFT:-}" ]; then
  if [ -x "$RL_ROOT/.venv/bin/swift" ]; then SWIFT="$RL_ROOT/.venv/bin/swift"; else SWIFT=swift; fi
fi
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$RL_ROOT/.venv/bin/python" ]; then PYTHON="$RL_ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
PLUGIN="$RL_ROOT/rl/plugin.py"
SCHEDULER=videotemp_clips

rl_log() { echo "[$(basename "$0")] $*" >&2; }

# Counts the devices in a list like "0,1,2".
rl_count_devices() { local IFS=,; set -- $1; echo $#; }

rl_check_model() {
  if [ -z "$MODEL" ]; then
    rl_log "no model: set MODEL to the SFT checkpoint (bash sft/sft.sh writes"
    rl_log "output/sft/v*/checkpoint-*) or to a model id"
    exit 2
  fi
  if [ ! -e "$MODEL" ] && [[ "$MODEL" == /* || "$MODEL" == ./* ]]; then
    rl_log "model not found: $MODEL"
    rl_log "set MODEL to the SFT checkpoint (bash sft/sft.sh) or to a model id"
    exit 2
  fi
}
