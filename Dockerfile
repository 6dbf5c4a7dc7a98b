# One image for every rapbot service (worker, bots, migrations); compose picks the command.
#
# The Python packages are exactly requirements.lock, the set the test suite passes on (as
# scripts/bootstrap installs it): the lock first, then the project itself, both with --no-deps, so
# pip resolves nothing at build time and no unpinned dependency (numpy, huggingface_hub,
# tokenizers...) can drift in. `pip check` then fails the build if the lock no longer covers
# everything pyproject.toml and the locked packages need.
#
# CUDA: the lock's torch wheels bring their own CUDA 13 user-space libraries (the nvidia-* and
# cuda-* packages in the lock), so a plain Python base serves the GPU as well as the CPU. The host
# needs only an NVIDIA driver recent enough for CUDA 13 (>= 580) and the NVIDIA Container Toolkit;
# compose's `devices: [{driver: nvidia, capabilities: [gpu]}]` then mounts the driver into the
# container. Without a GPU the same image runs on the CPU. The lock is a linux x86-64 freeze: build
# for linux/amd64. Debian bookworm and Python 3.11, as the lock was tested on.
FROM python:3.11-slim-bookworm

# NVIDIA_DRIVER_CAPABILITIES: what the NVIDIA runtime mounts into a container given a GPU (CUDA
# compute, nvidia-smi). Which GPUs a container gets stays with compose's device reservation: no
# NVIDIA_VISIBLE_DEVICES here, so the store worker and the bots get none.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    RAPBOT_MODEL_DIR=/models \
    HF_HOME=/models/hf \
    YOLO_CONFIG_DIR=/models/ultralytics-config \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility

# libgl/libglib: OpenCV (pulled in by ultralytics) needs them at import time.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# The dependencies, in their own layer: rebuilt only when the lock changes, not on every code change.
# `pip freeze` leaves pip and setuptools out of the lock; they are pinned here at the tested venv's
# versions (torch needs setuptools>=77.0.3 at run time; setuptools also builds the project below).
COPY requirements.lock ./
RUN python -m pip install pip==26.3 setuptools==84.2.1 \
    && python -m pip install --no-deps -r requirements.lock

# The project, without dependencies (all installed from the lock) and built with the pinned
# setuptools above rather than one fetched at build time.
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY memory ./memory
COPY migrations ./migrations
COPY model ./model
COPY rapbot ./rapbot
COPY training ./training
COPY worker ./worker
RUN python -m pip install --no-deps --no-build-isolation . \
    && python -m pip check

RUN useradd --create-home --uid 1000 rapbot && mkdir -p /models && chown rapbot /models
USER rapbot

ENTRYPOINT ["rapbot"]
CMD ["--help"]
