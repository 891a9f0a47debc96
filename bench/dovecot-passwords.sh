#!/bin/bash
# Switch the Dovecot peer's password scheme for bench1..50 (password "secret"):
#   dovecot-passwords.sh plain      {PLAIN} as in peer-conf/dovecot/bench-users (no hashing at login)
#   dovecot-passwords.sh argon2id   {ARGON2ID} from `doveadm pw` (libsodium: m=64 MiB, t=3, p=1),
#                                   the same cost class as kantorpos's default argon2id (m=64 MiB, t=3, p=2)
# Dovecot re-reads the passwd-file when it changes; auth_cache is off, so every login verifies.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
case ${1:-} in
  plain) install -m 640 -g dovecot "$HERE/peer-conf/dovecot/bench-users" /etc/dovecot/bench-users ;;
  argon2id)
    # hashed once, kept beside the live file
    cache=/etc/dovecot/bench-users.argon2id
    if [ ! -s "$cache" ]; then
      for i in $(seq 1 50); do echo "bench$i:$(doveadm pw -s ARGON2ID -p secret)"; done > "$cache.tmp"
      mv "$cache.tmp" "$cache"
    fi
    install -m 640 -g dovecot "$cache" /etc/dovecot/bench-users ;;
  *) echo "usage: $0 plain|argon2id" >&2; exit 2 ;;
esac
echo "dovecot bench passwords: $1"
