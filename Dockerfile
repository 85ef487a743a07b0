FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY feed ./feed
# The same install as the README's run command.
RUN pip install --no-cache-dir . && useradd --create-home feed
USER feed
ENV FEED_HOST=0.0.0.0 FEED_PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
  CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)" || exit 1
# `feed serve` runs the migrations before it listens.
CMD ["feed", "serve"]
