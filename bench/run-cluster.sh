#!/bin/bash
# SMTP acceptance with 1 and 2 kantorpos nodes on one PostgreSQL (issue 10), on this machine:
# a throwaway PostgreSQL cluster (initdb in OUT/pg, loopback port 25432, fsync on, run as the
# postgres user), node A (SMTP 127.0.0.1:21025) and node B (22025) with storage.driver = postgres,
# users bench1..50@example.test. Each round sends TOTAL messages of 5 KB with Postfix's smtp-source,
# 50 sessions, a connection per message: all to node A ("1 node"), then half to each node at once
# ("2 nodes"), alternating which goes first. A 250 means the message is committed in PostgreSQL.
# Both nodes and PostgreSQL share the same 2 cores, so this measures what the shared database costs,
# not how far more machines would scale.
#
# usage: bench/run-cluster.sh [OUT_DIR]      Env: REPS (3), TOTAL (4000), SESSIONS (50)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT=${1:-/tmp/bench-cluster-$(date +%Y%m%d-%H%M)}
REPS=${REPS:-3} TOTAL=${TOTAL:-4000} SESSIONS=${SESSIONS:-50}
PGPORT=25432
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
mkdir -p "$OUT"
RES=$OUT/results.txt LOG=$OUT/run.log
KP=$OUT/kantorpos
(cd "$HERE/.." && go build -o "$KP" ./cmd/kantorpos)
log() { echo "$(date +%H:%M:%S) $*" | tee -a "$LOG" >&2; }
asuser() { runuser -u postgres -- "$@"; }
DSN="postgres://postgres@127.0.0.1:$PGPORT/kantorpos?sslmode=disable"

pg_start() {
  rm -rf "$OUT/pg"; mkdir -p "$OUT/pg"; chown postgres "$OUT/pg"
  asuser "$PGBIN/initdb" -D "$OUT/pg/data" -U postgres --auth=trust --encoding=UTF8 >>"$LOG"
  asuser "$PGBIN/pg_ctl" start -w -D "$OUT/pg/data" -l "$OUT/pg/server.log" \
    -o "-p $PGPORT -k $OUT/pg -c listen_addresses=127.0.0.1 -c max_connections=200" >>"$LOG"
  asuser "$PGBIN/psql" -h 127.0.0.1 -p $PGPORT -U postgres -c "CREATE DATABASE kantorpos" >>"$LOG"
}
pg_stop() { asuser "$PGBIN/pg_ctl" stop -w -m fast -D "$OUT/pg/data" >>"$LOG" 2>&1 || true; }

conf() { # conf NAME SMTP_PORT
  # Started as root, serve binds its port and becomes an unprivileged user;
  # admin commands never create the data directory.
  local user_line=""
  mkdir -p -m 0700 "$OUT/$1"
  if [ "$(id -u)" = 0 ]; then user_line='user = "nobody"'; chown nobody: "$OUT/$1"; fi
  cat > "$OUT/$1.toml" <<EOF
hostname = "$1.example.test"
data_dir = "$OUT/$1"
$user_line
[storage]
driver = "postgres"
dsn = "$DSN"
max_conns = 16
[smtp]
listen = "127.0.0.1:$2"
check_authentication = false
[submission]
listen = ""
listen_tls = ""
[imap]
listen = ""
listen_tls = ""
[pop3]
listen = ""
listen_tls = ""
[admin]
listen = ""
[web]
listen = ""
listen_tls = ""
[limits]
max_connections = 30000
max_connections_per_ip = 30000
EOF
}
node_start() { # node_start NAME PORT
  "$KP" serve -config "$OUT/$1.toml" >"$OUT/$1.out" 2>>"$OUT/$1.log" </dev/null &
  echo $! > "$OUT/$1.pid"
  for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/$2) 2>/dev/null && return 0; sleep 0.1; done
  log "node $1 did not start (see $OUT/$1.log)"; return 1
}
node_stop() { [ -s "$OUT/$1.pid" ] && kill "$(cat "$OUT/$1.pid")" 2>/dev/null && while kill -0 "$(cat "$OUT/$1.pid")" 2>/dev/null; do sleep 0.1; done; rm -f "$OUT/$1.pid"; }
cleanup() { node_stop a || true; node_stop b || true; pg_stop; }
trap cleanup EXIT

{ echo "run $(date -Is) in $OUT"; echo "machine: $(nproc) CPUs, $(free -g | awk '/Mem:/{print $2}') GiB"
  echo "kantorpos $(git -C "$HERE/.." rev-parse --short HEAD)"; "$PGBIN/postgres" --version; uptime; } | tee -a "$LOG"
pg_start
conf a 21025; conf b 22025
"$KP" domain add example.test -config "$OUT/a.toml" >>"$LOG"
for i in $(seq 1 50); do echo benchsecret | "$KP" user add "bench$i@example.test" -password-stdin -config "$OUT/a.toml" >>"$LOG"; done
node_start a 21025; node_start b 22025

# smtp PORT N: N messages with smtp-source to the port; prints "secs msgs"
smtp() {
  local t0 t1
  t0=$(date +%s.%N)
  "$HERE/smtp-bench.sh" -n "$2" -s "$3" -p "$1" >>"$LOG"
  t1=$(date +%s.%N)
  echo "$t0 $t1"
}
for r in $(seq 1 "$REPS"); do
  modes="1 2"; (( r % 2 == 0 )) && modes="2 1"
  for m in $modes; do
    l1=$(cut -d' ' -f1 /proc/loadavg)
    if [ "$m" = 1 ]; then
      read -r t0 t1 < <(smtp 21025 "$TOTAL" "$SESSIONS")
    else
      smtp 21025 $((TOTAL / 2)) $((SESSIONS / 2)) > "$OUT/a.t" &
      apid=$!
      smtp 22025 $((TOTAL / 2)) $((SESSIONS / 2)) > "$OUT/b.t"
      wait $apid   # not a bare wait: the nodes are background jobs too
      read -r a0 a1 < "$OUT/a.t"; read -r b0 b1 < "$OUT/b.t"
      t0=$(echo "if ($a0 < $b0) $a0 else $b0" | bc -l); t1=$(echo "if ($a1 > $b1) $a1 else $b1" | bc -l)
    fi
    secs=$(echo "$t1 - $t0" | bc -l)
    printf "phase=cluster nodes=%s round=%s load1=%s messages=%s sessions=%s secs=%.3f accept_mps=%.1f\n" \
      "$m" "$r" "$l1" "$TOTAL" "$SESSIONS" "$secs" "$(echo "$TOTAL / $secs" | bc -l)" | tee -a "$RES"
  done
done
stored=$(asuser "$PGBIN/psql" -h 127.0.0.1 -p $PGPORT -U postgres -d kantorpos -Atc "SELECT count(*) FROM messages")
echo "messages stored in PostgreSQL: $stored (expected $((REPS * 2 * TOTAL)))" | tee -a "$LOG"
python3 - "$RES" <<'EOF'
import sys, statistics
rows = [dict(kv.split("=", 1) for kv in l.split()) for l in open(sys.argv[1]) if l.startswith("phase=cluster")]
med = {n: statistics.median(float(r["accept_mps"]) for r in rows if r["nodes"] == n) for n in ("1", "2")}
print(f"| nodes | accepted msg/s (median of {sum(r['nodes'] == '1' for r in rows)}) |\n|---|---|")
for n in ("1", "2"):
    print(f"| {n} | {med[n]:.0f} |")
print(f"\n2 nodes / 1 node: {med['2'] / med['1']:.2f}")
EOF
