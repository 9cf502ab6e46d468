# The marketplace pipeline image: one image, four processes (see Procfile / docker-compose.yml).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY marketplace ./marketplace
COPY workers ./workers
RUN pip install --no-cache-dir . && useradd --create-home marketplace
USER marketplace
CMD ["marketplace", "--help"]
