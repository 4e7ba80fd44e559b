# Mainsail: one image for every process (server, worker, serve replicas, one-off CLI jobs).
#   docker build -t mainsail .                                   # postgres, redis and s3 extras
#   docker build -t mainsail:ray --build-arg EXTRAS=postgres,redis,s3,ray,xgboost .
# The process is chosen by the command: `server` (default), `worker`, `serve DEPLOYMENT`, `db upgrade`, ...
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS build
ARG EXTRAS=postgres,redis,s3
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m venv /opt/mainsail \
 && /opt/mainsail/bin/pip install "/src[${EXTRAS}]" \
 && /opt/mainsail/bin/mainsail version

FROM python:${PYTHON_VERSION}-slim
ARG EXTRAS=postgres,redis,s3
LABEL org.opencontainers.image.title="mainsail" \
      org.opencontainers.image.description="End-to-end MLOps in one package" \
      org.opencontainers.image.licenses="Apache-2.0" \
      io.mainsail.extras="${EXTRAS}"
RUN groupadd --system --gid 10001 mainsail \
 && useradd --system --uid 10001 --gid mainsail --home-dir /data --shell /usr/sbin/nologin mainsail \
 && mkdir -p /data \
 && chown mainsail:mainsail /data
COPY --from=build /opt/mainsail /opt/mainsail
ENV PATH="/opt/mainsail/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    MAINSAIL_HOME=/data \
    MAINSAIL_PORT=8080
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
# /health answers on the server and on serve replicas (both on $MAINSAIL_PORT); a worker has no HTTP port,
# so compose and Kubernetes switch this check off for it.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('MAINSAIL_PORT', '8080'), timeout=4)"]
ENTRYPOINT ["mainsail"]
CMD ["server", "--host", "0.0.0.0", "--port", "8080"]
