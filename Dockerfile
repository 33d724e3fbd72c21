# syntax=docker/dockerfile:1
# Build stage: compile wheels for the app and its dependencies.
FROM python:3.11-slim AS build
WORKDIR /src
RUN pip install --no-cache-dir --upgrade pip
COPY pyproject.toml README.md alembic.ini ./
COPY bot ./bot
COPY faq ./faq
COPY handlers ./handlers
COPY migrations ./migrations
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# Runtime stage: only the installed wheels, a non-root user, a health check.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    TROLY_HTTP_HOST=0.0.0.0 TROLY_HTTP_PORT=8080 \
    TROLY_DATABASE_URL=sqlite+aiosqlite:////data/troly.db
RUN useradd --create-home --uid 10001 troly && mkdir /data && chown troly /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER troly
WORKDIR /data
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import os,urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"TROLY_HTTP_PORT\",\"8080\")}/healthz', timeout=4)"
# Migrations run first (and again inside `serve`, which is a no-op then), so a failed migration stops the start.
CMD ["sh", "-c", "troly db upgrade && exec troly serve"]
