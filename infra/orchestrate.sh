#!/usr/bin/env bash
# `make orchestrate`: a Prefect server (unless one answers), the process work pool, every deployment in
# prefect.yaml, and a worker in the foreground (Ctrl-C stops the worker; the server keeps running — its
# pid is in $PREFECT_HOME/server.pid). Settings come from the environment, as for every `churn` command.
#
# Shared server: point Prefect at PostgreSQL instead of its SQLite file, which locks under parallel runs:
#   createdb -h 127.0.0.1 -U postgres prefect
#   export PREFECT_API_DATABASE_CONNECTION_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/prefect
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
export CHURN_HOME=${CHURN_HOME:-$PWD/var}
export CHURN_PROJECT_DIR=${CHURN_PROJECT_DIR:-$PWD}
export PREFECT_HOME=${PREFECT_HOME:-$CHURN_HOME/prefect}
export PREFECT_SERVER_ANALYTICS_ENABLED=false
PORT=${PREFECT_PORT:-4200}
export PREFECT_API_URL=${PREFECT_API_URL:-http://127.0.0.1:$PORT/api}
mkdir -p "$PREFECT_HOME" "$CHURN_HOME/logs"

healthy() { "$BIN/python" -c "import sys,urllib.request; urllib.request.urlopen(sys.argv[1] + '/health', timeout=2)" "$PREFECT_API_URL" 2>/dev/null; }

if ! healthy; then
  echo "starting prefect server on 127.0.0.1:$PORT (log: $CHURN_HOME/logs/prefect-server.log)"
  nohup "$BIN/prefect" server start --host 127.0.0.1 --port "$PORT" >"$CHURN_HOME/logs/prefect-server.log" 2>&1 &
  echo $! >"$PREFECT_HOME/server.pid"
  for _ in $(seq 120); do healthy && break; sleep 0.5; done
  healthy || { echo "prefect server did not become healthy; see $CHURN_HOME/logs/prefect-server.log" >&2; exit 1; }
fi
"$BIN/prefect" work-pool inspect churn-process >/dev/null 2>&1 || "$BIN/prefect" work-pool create churn-process --type process
"$BIN/prefect" --no-prompt deploy --all
echo "deployments: $PREFECT_API_URL (UI at http://127.0.0.1:$PORT); starting a worker on churn-process"
exec "$BIN/prefect" worker start --pool churn-process "$@"
