#!/bin/sh
# Container entrypoint: migrate, then serve.
set -euf

python -m alembic upgrade head

export FORWARDED_ALLOW_IPS="*"
exec uvicorn app.main:app \
  --host 0.0.0.0 \
  --port "${PORT:-8000}" \
  --proxy-headers \
  --timeout-keep-alive 65
