# One image for every rapbot service (worker, bots, migrations); compose picks the command.
# CUDA-enabled torch wheels from PyPI run on CPU too, so the same image serves both.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    RAPBOT_MODEL_DIR=/models \
    HF_HOME=/models/hf \
    YOLO_CONFIG_DIR=/models/ultralytics-config

# libgl/libglib: OpenCV (pulled in by ultralytics) needs them at import time.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY memory ./memory
COPY migrations ./migrations
COPY model ./model
COPY rapbot ./rapbot
COPY training ./training
COPY worker ./worker
RUN pip install .

RUN useradd --create-home --uid 1000 rapbot && mkdir -p /models && chown rapbot /models
USER rapbot

ENTRYPOINT ["rapbot"]
CMD ["--help"]
