# portalnews crawler image: `portalnews` is the entrypoint, so
#   docker run IMAGE crawl --portals /config/portals.yaml
#   docker run IMAGE coverage --store http://elasticsearch:9200
# Build context is filtered by .dockerignore (only pyproject.toml, README.md, the
# packages and the default registry are sent).

# ---- build: install the package and the search-engine clients into a venv ---------
FROM python:3.11.17-slim-bookworm AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY crawler ./crawler
COPY pipelines ./pipelines
# Every dependency ships manylinux wheels for CPython 3.11: no compiler is needed.
RUN python -m venv /opt/portalnews \
 && /opt/portalnews/bin/pip install --no-cache-dir '.[engines]' \
 && /opt/portalnews/bin/portalnews --help >/dev/null

# ---- runtime: the venv only, run by an unprivileged user ----------------------------
FROM python:3.11.17-slim-bookworm

LABEL org.opencontainers.image.title="portalnews" \
      org.opencontainers.image.description="Asynchronous Scrapy crawler for Vietnamese government web portals" \
      org.opencontainers.image.licenses="MIT"

ENV PATH=/opt/portalnews/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    NO_COLOR=1

# /data is the state volume: the on-disk spool (/data/spool) and, when no search engine
# is configured, the default SQLite store. A fresh named volume mounted there inherits
# this ownership. The numeric USER below is the same account (uid/gid 10001).
RUN groupadd --system --gid 10001 portalnews \
 && useradd --system --uid 10001 --gid portalnews --home-dir /data --no-create-home \
            --shell /usr/sbin/nologin portalnews \
 && mkdir -p /data/spool /config \
 && chown -R portalnews:portalnews /data

COPY --from=build /opt/portalnews /opt/portalnews
# Default registry; docker-compose.yml mounts the operator's file over it (read-only).
COPY --chown=root:root portals.yaml /config/portals.yaml

# Relative defaults such as sqlite:///data/portalnews.db resolve under the /data volume.
WORKDIR /
VOLUME ["/data"]
USER 10001:10001

# A crawl is a batch job, not a server: there is no port to health-check.
ENTRYPOINT ["portalnews"]
CMD ["crawl", "--portals", "/config/portals.yaml"]
