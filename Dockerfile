# Light Registry gateway image.
#   docker build -t light-registry .
#   docker run --rm -p 127.0.0.1:8000:8000 -e LR_REGISTRY_URL=http://registry:5000 light-registry
# Settings are LR_* environment variables (see .env.example).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --create-home \
        --shell /usr/sbin/nologin app

# Only what the package build needs; the test extra is not installed. The sources are
# removed afterwards: the package runs from site-packages.
COPY pyproject.toml README.md /tmp/src/
COPY gateway/ /tmp/src/gateway/
RUN pip install /tmp/src \
    && rm -rf /tmp/src

# Working directory of the server (an .env here would be read; none is shipped).
WORKDIR /app

USER app

EXPOSE 8000

# Liveness: the process serves. Not /api/health, which is 503 while the registry is
# down — a healthy gateway must not be restarted for that.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:8000/api/health/live', timeout=4); sys.exit(0 if r.status == 200 else 1)"]

CMD ["light-registry", "--host", "0.0.0.0", "--port", "8000"]
