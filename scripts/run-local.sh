#!/bin/sh
# `make run`: the whole system on one machine with SQLite and the console notifier.
# The same entry points as docker-compose.yml: `flask --app api db upgrade`, gunicorn, `python -m worker`.
set -eu
: "${PORT:=8000}"
export NOTIFIER="${NOTIFIER:-console}"
mkdir -p "$INSTANCE_PATH"
export PROMETHEUS_MULTIPROC_DIR="$INSTANCE_PATH/metrics"
rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"

flask --app api db upgrade
flask --app api seed-demo

python -m worker &
worker_pid=$!
trap 'kill $worker_pid 2>/dev/null' EXIT INT TERM

gunicorn --config gunicorn.conf.py --bind "127.0.0.1:$PORT" 'api:create_app()'
