#!/bin/bash
# Stop the kantorpos started by kantorpos-start.sh (SIGTERM, then wait for it to finish draining).
set -u
KP_DIR=${KP_DIR:-${TMPDIR:-/tmp}/kantorpos-bench}
pidf=$KP_DIR/kantorpos.pid
if [ -s "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; then
  pid=$(cat "$pidf")
  kill -TERM "$pid"
  for _ in $(seq 1 400); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && { echo "kantorpos $pid did not stop" >&2; exit 1; }
fi
rm -f "$pidf"
echo "kantorpos stopped"
