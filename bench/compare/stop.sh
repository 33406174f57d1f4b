#!/usr/bin/env bash
# Stops the servers that setup.sh started (by pid file only).
set -uo pipefail
STATE=/tmp/bench-compare-state
for pidf in "$STATE"/redis-*.pid; do
  [ -f "$pidf" ] || continue
  pid=$(cat "$pidf")
  if kill -0 "$pid" 2>/dev/null; then kill "$pid" && echo "stopped redis pid $pid ($pidf)"; fi
  rm -f "$pidf"
done
PGVER=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)
if [ -f "$STATE/pg-started-by-setup" ] && [ -n "$PGVER" ] && pg_ctlcluster "$PGVER" main status >/dev/null 2>&1; then
  pg_ctlcluster "$PGVER" main stop && echo "stopped postgres $PGVER main"
fi
rm -f "$STATE/pg-started-by-setup"
