FROM python:3.11-slim
WORKDIR /app
COPY requirements.lock pyproject.toml ./
RUN pip install --no-cache-dir -r requirements.lock
COPY . .
RUN pip install --no-cache-dir --no-deps -e . && mkdir -p /tmp/metrics
ENV INSTANCE_PATH=/app/instance
USER nobody
