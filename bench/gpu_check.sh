#!/usr/bin/env bash
# GPU check of batched serving, for a machine with ONE NVIDIA GPU and no internet (an H200 with 16
# cores): real-size networks with random weights (nothing is downloaded), in under 8 minutes.
#
#   1. a Python that can run rapbot: .venv when it works; else scripts/bootstrap when a package
#      registry answers; else the machine's python3 plus wheels carried in .whl/ (see below)
#   2. bench/make_random_llava.py --size 13b: a LLaVA-1.5-13B-shaped generator (CLIP-L/336 +
#      Llama-13B, bf16, random), initialised on the GPU and saved once
#   3. bench/load.py on the hf engine: RAP's encoder ViT-L-14-336 (random), YOLO-World v2 X
#      (random), the 13B generator, --device cuda, levels 1,8,32, batched vs --max-batch 1 (photo
#      answers: per-stage times, mean batch per stage, vision-tower images per answer), then
#      bench/batching.py --batch 8 (each network alone, one request vs 8 in one call)
#   4. bench/models.py --device cuda (latency and memory of the real architectures)
#   5. bench/load.py on the vllm engine, when vLLM is there or installs (pip install vllm==0.33.0
#      into .venv-vllm): `vllm serve <dir> --enable-prefix-caching`; skipped with the reason otherwise
#
# Every step runs under `timeout` inside one overall budget. All output and tables go to one file,
# $OUT/gpu_results.txt when $OUT is set, else bench/gpu_results.txt, printed whole at the end.
#
#   bash bench/gpu_check.sh                  # on the GPU machine, from a checkout
#   bash bench/gpu_check.sh --fetch-wheels   # HERE (registry reachable): put into .whl/ the wheels
#                                            # the GPU machine's image lacks, for Python 3.12
#
# The GPU machine reaches no registry and its python3 (3.12, torch, transformers) lacks open_clip,
# ultralytics, celery, Postgres and a redis-server: run --fetch-wheels here first (wheels plus this
# machine's redis-server in .whl/redis), keep .whl out of git (`echo /.whl/ >> .git/info/exclude`)
# and carry `.whl` with the run (about 35 MB; --fetch-wheels fails above 64 MiB, the carry limit).
# Knobs (environment): GPU_CHECK_BUDGET_S (default 450), LEVELS (1,8,32), LEVEL_SECONDS (6),
# LLAVA_SIZE (13b), MAX_NEW_TOKENS (32), SKIP_VLLM=1, SKIP_MODELS=1; for a CPU dry run of the script
# itself: DEVICE=cpu LLAVA_SIZE=tiny ENCODER=open_clip:rapbot-tiny/random DETECTOR=yolov8s-worldv2.yaml.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD

# ---- wheels for the GPU machine (run here) ----------------------------------------------------
# What rapbot's worker, bench/load.py and bench/models.py import that the GPU image lacks; the
# image has torch, torchvision, transformers, tokenizers, safetensors, timm, numpy, pillow,
# opencv-python-headless, scikit-image, psutil, typer, pyyaml, requests, huggingface-hub, regex.
WHEELS=(
  open-clip-torch ftfy wcwidth ultralytics ultralytics-thop ultralytics-platform
  celery kombu billiard vine amqp click-didyoumean click-plugins click-repl prompt-toolkit tzlocal tzdata
  redis pgvector psycopg psycopg-binary SQLAlchemy greenlet alembic Mako pgserver fasteners
  pydantic pydantic-core annotated-types typing-inspection pydantic-settings python-dotenv
  platformdirs pi-heif
)

if [ "${1:-}" = "--fetch-wheels" ]; then
  WHEEL_DIR=${WHEEL_DIR:-.whl}
  mkdir -p "$WHEEL_DIR"
  lock_pin() {  # the version requirements.lock pins, else none
    local pin
    pin=$(grep -iE "^$1==" requirements.lock | head -1)
    echo "${pin:-$1}"
  }
  specs=()
  for name in "${WHEELS[@]}"; do specs+=("$(lock_pin "$name")"); done
  failed=0
  for spec in "${specs[@]}"; do
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
      --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform manylinux_2_24_x86_64 \
      --platform manylinux_2_34_x86_64 --platform manylinux_2_39_x86_64 --platform manylinux_2_5_x86_64 \
      -d "$WHEEL_DIR" "$spec" || { echo "could not fetch $spec" >&2; failed=1; }
  done
  # No registry has a redis-server wheel for Python 3.12: carry this machine's redis-server with the
  # libraries an Ubuntu/Debian image may lack, behind a wrapper that points the loader at them.
  server=$(command -v redis-server) || { echo "no redis-server here: apt-get install -y redis-server" >&2; exit 1; }
  mkdir -p "$WHEEL_DIR/redis/lib"
  cp -L "$server" "$WHEEL_DIR/redis/redis-server.bin"
  for lib in liblzf.so.1 libjemalloc.so.2 libatomic.so.1; do
    path=$(ldd "$server" | awk -v lib="$lib" '$1 == lib {print $3}')
    [ -n "$path" ] && cp -L "$path" "$WHEEL_DIR/redis/lib/"
  done
  cat >"$WHEEL_DIR/redis/redis-server" <<'WRAPPER'
#!/bin/sh
here=$(dirname "$(readlink -f "$0")")
LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "$here/redis-server.bin" "$@"
WRAPPER
  chmod +x "$WHEEL_DIR/redis/redis-server" "$WHEEL_DIR/redis/redis-server.bin"
  "$WHEEL_DIR/redis/redis-server" --version
  du -sh "$WHEEL_DIR"
  bytes=$(du -sb "$WHEEL_DIR" | cut -f1)
  if [ "$bytes" -gt $((64 * 1024 * 1024)) ]; then
    echo "$WHEEL_DIR is $((bytes / 1024 / 1024)) MiB: over the 64 MiB a run can carry" >&2
    failed=1
  fi
  echo "carry .whl with the run (and keep it out of git: echo /.whl/ >> .git/info/exclude)"
  exit $failed
fi

# ---- on the GPU machine -------------------------------------------------------------------------
BUDGET=${GPU_CHECK_BUDGET_S:-450}
LEVELS=${LEVELS:-1,8,32}
LEVEL_SECONDS=${LEVEL_SECONDS:-6}
LLAVA_SIZE=${LLAVA_SIZE:-13b}
MAX_NEW_TOKENS=${MAX_NEW_TOKENS:-32}
DEVICE=${DEVICE:-cuda}
ENCODER=${ENCODER:-open_clip:ViT-L-14-336/random}  # RAP's retriever, random weights
DETECTOR=${DETECTOR:-yolov8x-worldv2.yaml}         # RAP's detector, random weights
WORK=${GPU_CHECK_WORK:-/tmp/rapbot-gpu}
RESULTS=${OUT:+$OUT/gpu_results.txt}
RESULTS=${RESULTS:-$ROOT/bench/gpu_results.txt}
LLAVA_DIR=$WORK/llava-$LLAVA_SIZE-random
STARTED=$(date +%s)
mkdir -p "$WORK" "$(dirname "$RESULTS")"
: >"$RESULTS"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 YOLO_OFFLINE=1 YOLO_AUTOINSTALL=0
export YOLO_CONFIG_DIR=$WORK/yolo RAPBOT_MODEL_DIR=$WORK/models

note() { echo "$*" | tee -a "$RESULTS"; }
left() { echo $((BUDGET - ($(date +%s) - STARTED))); }
# step NAME LIMIT_S CMD...: run under timeout, capped by what is left of the budget; output to the
# results file. Returns the command's status (124: timed out).
step() {
  local name=$1 limit=$2 rest start rc
  shift 2
  rest=$(($(left) - 30))
  if [ "$rest" -lt 30 ]; then
    note "## $name: skipped, the ${BUDGET} s budget is spent"
    return 125
  fi
  [ "$limit" -gt "$rest" ] && limit=$rest
  note ""
  note "## $name (limit ${limit} s): $*"
  start=$(date +%s)
  # Into the results file only (printed whole at the end); a line of progress on stdout.
  timeout -k 30 "$limit" "$@" >>"$RESULTS" 2>&1
  rc=$?
  note "## $name: exit $rc after $(($(date +%s) - start)) s"
  return "$rc"
}

BACKGROUND=()
cleanup() {
  local pid
  for pid in "${BACKGROUND[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
  done
  sleep 2
  for pid in "${BACKGROUND[@]}"; do
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
  done
  BACKGROUND=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

note "# rapbot GPU check, $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | tee -a "$RESULTS"
note "cpu cores: $(nproc)"

# ---- 1. a Python -------------------------------------------------------------------------------
IMPORTS="import torch, open_clip, ultralytics, celery, redis, pgserver, psycopg, sqlalchemy, pgvector, pydantic_settings"
CUDA_CHECK="assert '$DEVICE' == 'cpu' or torch.cuda.is_available(), 'no CUDA'"
works() { timeout 120 "$1" -c "$IMPORTS; $CUDA_CHECK" >/dev/null 2>&1; }
registry() { timeout 15 python3 -m pip download -q --no-deps --retries 0 --timeout 5 -d "$WORK/probe" six >/dev/null 2>&1; }
PY=""
if [ -x .venv/bin/python ] && works .venv/bin/python; then
  PY=$ROOT/.venv/bin/python
  note "python: .venv"
elif registry; then
  note "python: building .venv with scripts/bootstrap"
  step bootstrap 300 scripts/bootstrap && works .venv/bin/python && PY=$ROOT/.venv/bin/python
fi
if [ -z "$PY" ] && ls .whl/*.whl >/dev/null 2>&1; then
  note "python: python3 plus the wheels in .whl/ ($(find .whl -name '*.whl' | wc -l) wheels)"
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$WORK/site" \
    .whl/*.whl 2>&1 | tail -5 | tee -a "$RESULTS"
  export PYTHONPATH=$WORK/site${PYTHONPATH:+:$PYTHONPATH}
  export PATH=$WORK/site/bin:$PATH
  works python3 && PY=$(command -v python3)
fi
if [ -z "$PY" ]; then
  note "FAILED: no Python that runs rapbot on CUDA. Missing imports with python3:"
  python3 -c "$IMPORTS" 2>&1 | tail -3 | tee -a "$RESULTS"
  note "Run 'bash bench/gpu_check.sh --fetch-wheels' where a registry answers and carry .whl."
  exit 1
fi
export PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}
"$PY" -c "import torch, transformers; print('torch', torch.__version__, 'cuda', torch.version.cuda, \
'transformers', transformers.__version__)" 2>&1 | tee -a "$RESULTS"

# A redis-server: PATH, else the one --fetch-wheels carried in .whl/redis.
REDIS_SERVER=$(command -v redis-server || true)
if [ -z "$REDIS_SERVER" ] && [ -x .whl/redis/redis-server ] && .whl/redis/redis-server --version >/dev/null 2>&1; then
  REDIS_SERVER=$ROOT/.whl/redis/redis-server
fi
if [ -z "$REDIS_SERVER" ]; then
  note "FAILED: no redis-server (not on PATH, none runnable in .whl/redis)"
  .whl/redis/redis-server --version 2>&1 | tail -2 | tee -a "$RESULTS"
  exit 1
fi
note "redis-server: $REDIS_SERVER"

# ---- 2. the random 13B LLaVA -------------------------------------------------------------------
step "make_random_llava --size $LLAVA_SIZE" 180 "$PY" bench/make_random_llava.py --size "$LLAVA_SIZE" \
  --device "$DEVICE" "$LLAVA_DIR" || { note "FAILED: no generator to serve"; exit 1; }

# ---- 3. load.py on the hf engine ---------------------------------------------------------------
# Profile tiny with every network overridden: the gpu profile's detector text encoder is
# ViT-B-32/openai (real weights, not here); the tiny profile's is a random 512-d one.
export RAPBOT_PROFILE=tiny RAPBOT_DEVICE=$DEVICE RAPBOT_ENCODER=$ENCODER RAPBOT_DETECTOR=$DETECTOR
export RAPBOT_GENERATOR=rap-llava:$LLAVA_DIR
note "networks: encoder $ENCODER, detector $DETECTOR, generator $RAPBOT_GENERATOR, device $DEVICE"
LOAD_ARGS=(--levels "$LEVELS" --seconds "$LEVEL_SECONDS" --device "$DEVICE" --max-new-tokens "$MAX_NEW_TOKENS"
  --redis-server "$REDIS_SERVER" --client-timeout 300)
step "load.py, hf engine" 330 "$PY" bench/load.py "${LOAD_ARGS[@]}" --engine hf
# The same networks alone, one request vs 8 in one call: what batching can buy per stage at most.
step "batching.py --batch 8" 90 "$PY" bench/batching.py --device "$DEVICE" --batch 8 --repeats 3

# ---- 4. models.py ------------------------------------------------------------------------------
if [ "${SKIP_MODELS:-0}" != 1 ]; then
  step "models.py --device $DEVICE" 120 "$PY" bench/models.py --device "$DEVICE" --repeats 3
fi

# ---- 5. load.py on the vllm engine -------------------------------------------------------------
vllm_bin() {
  if [ -x .venv-vllm/bin/vllm ]; then echo "$ROOT/.venv-vllm/bin/vllm"; else command -v vllm || true; fi
}
if [ "${SKIP_VLLM:-0}" = 1 ]; then
  note ""
  note "## vllm engine: skipped (SKIP_VLLM=1)"
elif [ "$(left)" -lt 200 ]; then
  note ""
  note "## vllm engine: skipped, only $(left) s of the budget left (a 13B vllm serve needs ~2 minutes to start)"
else
  VLLM=$(vllm_bin)
  if [ -z "$VLLM" ]; then
    if registry; then
      note "installing vllm==0.33.0 into .venv-vllm"
      python3 -m venv .venv-vllm >/dev/null 2>&1 &&
        timeout 150 .venv-vllm/bin/pip install -q vllm==0.33.0 2>&1 | tail -3 | tee -a "$RESULTS"
      VLLM=$(vllm_bin)
    fi
  fi
  if [ -z "$VLLM" ]; then
    note ""
    note "## vllm engine: skipped, vLLM is not installed and no package registry answers (pip install vllm==0.33.0)"
  else
    PORT=$("$PY" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
    note ""
    note "## vllm serve $LLAVA_DIR on 127.0.0.1:$PORT"
    # Its own session (setsid), so cleanup can end it and everything it started.
    env -u PYTHONPATH setsid "$VLLM" serve "$LLAVA_DIR" --host 127.0.0.1 --port "$PORT" --enable-prefix-caching \
      --dtype bfloat16 --max-model-len 4096 --gpu-memory-utilization 0.8 >"$WORK/vllm.log" 2>&1 &
    BACKGROUND+=($!)
    ready=0
    for _ in $(seq 1 240); do
      if "$PY" -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$PORT/health', timeout=2)" \
        >/dev/null 2>&1; then
        ready=1
        break
      fi
      kill -0 "${BACKGROUND[-1]}" 2>/dev/null || break
      [ "$(left)" -lt 100 ] && break
      sleep 1
    done
    if [ "$ready" = 1 ]; then
      note "vllm serve is up after $(($(date +%s) - STARTED)) s of the check"
      step "load.py, vllm engine" 240 "$PY" bench/load.py "${LOAD_ARGS[@]}" --engine vllm \
        --vllm-url "http://127.0.0.1:$PORT" --vllm-model "$LLAVA_DIR"
    else
      note "## vllm engine: skipped, vllm serve did not become healthy; the end of its log:"
      tail -15 "$WORK/vllm.log" | tee -a "$RESULTS"
    fi
    cleanup
  fi
fi

note ""
note "# summary (hf engine first, then vllm when it ran):"
grep -E "^(batching speedup|a lone user|  ?[0-9]+ chats: answers/s|generation stage, batch)" "$RESULTS" | tee -a "$RESULTS.summary"
cat "$RESULTS.summary" >>"$RESULTS" 2>/dev/null
rm -f "$RESULTS.summary"
note "# done in $(($(date +%s) - STARTED)) s; results in $RESULTS"
echo
echo "================ $RESULTS ================"
cat "$RESULTS"
