#!/bin/bash
# Start kantorpos for the benchmarks, on loopback beside the peers:
#   SMTP 127.0.0.1:20025   IMAP 127.0.0.1:20143   POP3 127.0.0.1:20110   (no TLS listeners, no admin)
#   users bench1..bench50@example.test, password "benchsecret" (kantorpos refuses passwords
#   shorter than 8 characters; the peers use "secret"), argon2id hashes with the default cost.
# Configuration: like the peers', no SPF/DKIM/DMARC checks on port 25 (smtp.check_authentication =
# false), plaintext logins allowed on loopback, connection limits raised for 10,000 IMAP clients.
# Durability is kantorpos's only mode: blob fsync + rename + directory fsync + SQLite commit before 250.
#
# Env: KP_DIR      working directory (default ${TMPDIR:-/tmp}/kantorpos-bench): k.toml, data/, template/, logs
#      KANTORPOS   binary (default: built from this checkout into $KP_DIR/kantorpos)
#      RESET_MAIL=1  stop the server and restore the freshly provisioned data directory (empty mailboxes)
#      CPUPROFILE  file: run `serve -cpuprofile FILE` (written when the server stops)
#      GOMAXPROCS, GOGC... are passed through.
# Writes $KP_DIR/kantorpos.pid; stop with kantorpos-stop.sh.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KP_DIR=${KP_DIR:-${TMPDIR:-/tmp}/kantorpos-bench}
NUSERS=50
PASSWORD=benchsecret
mkdir -p "$KP_DIR"
KANTORPOS=${KANTORPOS:-$KP_DIR/kantorpos}
if [ ! -x "$KANTORPOS" ]; then
  (cd "$HERE/.." && go build -o "$KANTORPOS" ./cmd/kantorpos)
fi
CONF=$KP_DIR/k.toml
# Started as root, serve binds its ports and becomes an unprivileged user.
USER_LINE=""
[ "$(id -u)" = 0 ] && USER_LINE='user = "nobody"'
cat > "$CONF" <<EOF
hostname = "mx.example.test"
data_dir = "$KP_DIR/data"
$USER_LINE
[log]
level = "info"
[smtp]
listen = "127.0.0.1:20025"
check_authentication = false
[submission]
listen = ""
listen_tls = ""
[imap]
listen = "127.0.0.1:20143"
listen_tls = ""
allow_insecure_auth = true
max_connections_per_user = 1000
[pop3]
listen = "127.0.0.1:20110"
listen_tls = ""
allow_insecure_auth = true
[admin]
listen = ""
[limits]
max_connections = 30000
max_connections_per_ip = 30000
EOF

running() { [ -s "$KP_DIR/kantorpos.pid" ] && kill -0 "$(cat "$KP_DIR/kantorpos.pid")" 2>/dev/null; }

if [ ! -d "$KP_DIR/template" ]; then
  "$HERE/kantorpos-stop.sh" >/dev/null
  rm -rf "$KP_DIR/data"
  mkdir -m 0700 "$KP_DIR/data"   # admin commands never create it
  [ "$(id -u)" = 0 ] && chown nobody: "$KP_DIR/data"
  "$KANTORPOS" domain add example.test -config "$CONF" >/dev/null
  for i in $(seq 1 $NUSERS); do
    echo "$PASSWORD" | "$KANTORPOS" user add "bench$i@example.test" -password-stdin -config "$CONF" >/dev/null
  done
  cp -a "$KP_DIR/data" "$KP_DIR/template"
fi
if [ "${RESET_MAIL:-0}" = 1 ]; then
  "$HERE/kantorpos-stop.sh" >/dev/null
  rm -rf "$KP_DIR/data"
  cp -a "$KP_DIR/template" "$KP_DIR/data"
fi
if ! running; then
  prof=()
  [ -n "${CPUPROFILE:-}" ] && prof=(-cpuprofile "$CPUPROFILE")
  "$KANTORPOS" serve -config "$CONF" "${prof[@]}" >"$KP_DIR/serve.out" 2>>"$KP_DIR/serve.log" </dev/null &
  echo $! > "$KP_DIR/kantorpos.pid"
fi
for port in 20025 20110; do
  for _ in $(seq 1 100); do
    (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
    sleep 0.1
  done
  (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null || { echo "kantorpos: port $port not listening (see $KP_DIR/serve.log)" >&2; exit 1; }
done
imap=no; (exec 3<>/dev/tcp/127.0.0.1/20143) 2>/dev/null && imap=yes
echo "kantorpos up (pid $(cat "$KP_DIR/kantorpos.pid")): smtp 127.0.0.1:20025 pop3 127.0.0.1:20110 imap 127.0.0.1:20143 ($imap)"
