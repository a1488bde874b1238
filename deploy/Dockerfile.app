# AI Film Studio: the app (web UI at /, /healthz, /readyz). CPU only: requirements.txt, no
# torch; renders run in its own thread, or on workers when STUDIO_REDIS_URL is set.
#
#   docker build -f deploy/Dockerfile.app -t ai-film-studio-app .      # from the repo root
#   docker run -p 7860:7860 -v studio-data:/data ai-film-studio-app
#
# The base is pinned to an exact tag. For byte-for-byte reproducible builds pin its digest:
#   docker buildx imagetools inspect python:3.11.14-slim-bookworm    # prints "Digest: sha256:…"
# then build with --build-arg PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:<digest>
# (or write that into the default below, and let Dependabot/Renovate bump it).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    GRADIO_ANALYTICS_ENABLED=False \
    STUDIO_DATA_DIR=/data \
    STUDIO_HOST=0.0.0.0 \
    PORT=7860

# Fonts for text drawn into pictures (subtitles, title cards, CJK scripts: pipelines/fonts.py)
# and an unprivileged user with a fixed uid (Kubernetes runAsNonRoot can check a number) in
# group 0, which owns /data: an arbitrary uid in group 0 (OpenShift) can use it too.
# Dockerfile.single and Dockerfile.worker start with these same layers, so they share them.
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-dejavu-core fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --gid 0 --create-home --home-dir /home/studio \
        --shell /usr/sbin/nologin studio \
    && install -d -o 10001 -g 0 -m 0770 /data

WORKDIR /app

# Dependencies first: this layer is rebuilt only when requirements.txt changes.
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt

# The code runs from the source tree (configs/ is found next to studio/), owned by root and
# read-only for the studio user.
COPY app.py pyproject.toml ./
COPY configs/ configs/
COPY credits/ credits/
COPY pipelines/ pipelines/
COPY storage/ storage/
COPY studio/ studio/
# The screenplay `python -m studio demo --script examples/script.txt` renders.
COPY examples/script.txt examples/script.txt
COPY deploy/healthcheck.py deploy/healthcheck.py
COPY --chmod=0755 deploy/app/entrypoint.sh deploy/app/entrypoint.sh
RUN python -m compileall -q app.py configs credits pipelines storage studio deploy

USER 10001:0
VOLUME ["/data"]
EXPOSE 7860

# Liveness: /healthz answers (no curl in the image: the check is a few lines of Python).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "/app/deploy/healthcheck.py", "app"]

# `db upgrade`, then `python -m studio serve --host 0.0.0.0` (arguments go to serve).
ENTRYPOINT ["/app/deploy/app/entrypoint.sh"]
CMD []
