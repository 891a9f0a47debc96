#!/bin/bash
# The benchmark run of record (issue 9): kantorpos against Postfix + Dovecot in the same run, every
# workload alternating between the servers, REPS rounds; report.py prints the medians and the ratios.
#
# usage: bench/run-peers.sh [OUT_DIR]          (default /tmp/bench-run-YYYYmmdd-HHMM)
# Env:   PHASES  which phases, in order (default "smtp pop3 e2e imap mem profile")
#        REPS    rounds per phase (default 3)
#        SMTP_TOTAL messages per SMTP run (default 5000)
#        KP_MEM_STEPS (default 1000,10000; 10,000 only in round 1) DOVECOT_MEM_STEPS (default 500,1000)
#        KP_SETTLE quiet time before each kantorpos memory reading (default 300s)
#        (phase fill100 only puts 100 messages in every INBOX on both sides, e.g. before a mem phase alone)
#        NO_RESET=1 keeps the mailboxes of an earlier run (e.g. to run the mem phase on its own later;
#                   results are appended to OUT_DIR/results.txt)
#        IMAP_USERS mailboxes (default 4: bench47..bench50) of IMAP_MSGS messages (default 10000)
# Peers: Postfix (SMTP 10025, delivering into Maildir) and Dovecot (IMAP 10143, POP3 10110) from
# peers-start.sh; kantorpos (SMTP 20025, IMAP 20143, POP3 20110) from kantorpos-start.sh.
# Loads: Postfix's smtp-source (smtp-bench.sh), pop3-bench.py, and `kantorpos bench`, against both.
# Every result line gets server=, client=, round= and load1= (the 1-minute load average when it started).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT=${1:-/tmp/bench-run-$(date +%Y%m%d-%H%M)}
PHASES=${PHASES:-"smtp pop3 e2e imap mem profile"}
REPS=${REPS:-3}
SMTP_TOTAL=${SMTP_TOTAL:-5000}
KP_MEM_STEPS=${KP_MEM_STEPS:-1000,10000} DOVECOT_MEM_STEPS=${DOVECOT_MEM_STEPS:-500,1000} KP_SETTLE=${KP_SETTLE:-300s}
IMAP_USERS=${IMAP_USERS:-4}
IMAP_MSGS=${IMAP_MSGS:-10000}
export KP_DIR=${KP_DIR:-${TMPDIR:-/tmp}/kantorpos-bench}
MAILROOT=/var/vmail/example.test
KP_PW=benchsecret PEER_PW=secret
mkdir -p "$OUT"
RES=$OUT/results.txt
LOG=$OUT/run.log
KP=$KP_DIR/kantorpos
(cd "$HERE/.." && go build -o "$KP" ./cmd/kantorpos)

log() { echo "$(date +%H:%M:%S) $*" | tee -a "$LOG" >&2; }
load1() { cut -d' ' -f1 /proc/loadavg; }
# record PREFIX: prefix every result line read from stdin, append it to results.txt and show it
record() { while read -r line; do case $line in *=*) echo "$1 $line" | tee -a "$RES";; *) echo "$line" >>"$LOG";; esac; done; }
kp_reset() { RESET_MAIL=1 "$HERE/kantorpos-start.sh" >>"$LOG" 2>&1; }
kp_start() { "$HERE/kantorpos-start.sh" >>"$LOG" 2>&1; }
kp_pid() { cat "$KP_DIR/kantorpos.pid"; }
maildir_count() { find "$MAILROOT" -path '*/Maildir/new/*' -type f 2>/dev/null | wc -l; }
postfix_reset() { find "$MAILROOT" -path '*/Maildir/*' -type f \( -path '*/new/*' -o -path '*/cur/*' \) -delete; }
# wait_delivered BASE N T0: wait until N more messages are in Postfix's Maildirs; print deliver_s/mps
wait_delivered() {
  local want=$(($1 + $2)) n t1
  while n=$(maildir_count); (( n < want )); do
    sleep 0.05
    if (( $(date +%s) - ${3%.*} > 900 )); then echo "delivery timeout: $n/$want" >&2; return 1; fi
  done
  t1=$(date +%s.%N)
  printf "deliver_s=%.3f deliver_mps=%.1f\n" "$(echo "$t1 - $3" | bc -l)" "$(echo "$2 / ($t1 - $3)" | bc -l)"
}

{ echo "run $(date -Is) in $OUT"; echo "machine: $(nproc) CPUs, $(free -g | awk '/Mem:/{print $2}') GiB, kernel $(uname -r)";
  echo "kantorpos $(git -C "$HERE/.." rev-parse --short HEAD) $(git -C "$HERE/.." status --porcelain | wc -l) uncommitted changes";
  postconf -d mail_version 2>/dev/null; dovecot --version 2>/dev/null; uptime; } | tee -a "$LOG"

if [ "${NO_RESET:-0}" = 1 ]; then
  "$HERE/peers-start.sh" >>"$LOG" 2>&1; kp_start
else
  RESET_MAIL=1 "$HERE/peers-start.sh" >>"$LOG" 2>&1; kp_reset
fi
IMAP_KP=no; (exec 3<>/dev/tcp/127.0.0.1/20143) 2>/dev/null && IMAP_KP=yes
log "kantorpos IMAP listener: $IMAP_KP"

phase_smtp() {
  for r in $(seq 1 "$REPS"); do
    for keep in "" "-k"; do
      for s in 10 50; do
        # alternate which server goes first from round to round
        servers="kantorpos postfix"; (( r % 2 == 0 )) && servers="postfix kantorpos"
        for srv in $servers; do
          for client in smtp-source kantorpos-bench; do
            if [ $srv = kantorpos ]; then kp_reset; port=20025; else postfix_reset; port=10025; fi
            sync; sleep 2
            pre="phase=smtp server=$srv client=$client round=$r load1=$(load1)"
            log "$pre sessions=$s keep=${keep:-no}"
            if [ $client = smtp-source ]; then
              m=(); [ $srv = postfix ] && m=(-m "$MAILROOT")
              "$HERE/smtp-bench.sh" -n "$SMTP_TOTAL" -s "$s" $keep -p $port "${m[@]}" | sed 's/^total=/messages=/' | record "$pre" || log "FAILED, continuing: see $LOG"
            else
              base=$(maildir_count); t0=$(date +%s.%N)
              k=(); [ -n "$keep" ] && k=(-keepalive)
              line=$("$KP" bench smtp -addr 127.0.0.1:$port -sessions "$s" -messages "$SMTP_TOTAL" "${k[@]}") || log "FAILED, continuing"
              [ $srv = postfix ] && { line="$line $(wait_delivered "$base" "$SMTP_TOTAL" "$t0")" || log "Postfix did not deliver everything"; }
              echo "$line" | record "$pre" || log "FAILED, continuing: see $LOG"
            fi
          done
        done
      done
    done
  done
}

phase_fill100() {
  # 100 realistic messages (gen-mbox.py, seed 1) in each of the 50 INBOXes, delivered by each server.
  kp_reset; postfix_reset
  [ -s "$OUT/pop3.mbox" ] || python3 "$HERE/gen-mbox.py" "$OUT/pop3.mbox" 100 1 >>"$LOG"
  base=$(maildir_count); t0=$(date +%s.%N)
  "$KP" bench fill -via smtp -addr 127.0.0.1:10025 -mbox "$OUT/pop3.mbox" -users 50 | record "phase=fill server=postfix" || log "FAILED, continuing: see $LOG"
  wait_delivered "$base" 5000 "$t0" >>"$LOG" || log "Postfix did not deliver everything"
  "$KP" bench fill -via smtp -addr 127.0.0.1:20025 -mbox "$OUT/pop3.mbox" -users 50 | record "phase=fill server=kantorpos" || log "FAILED, continuing: see $LOG"
}

phase_pop3() {
  phase_fill100
  # warm-up: Dovecot moves new/ to cur/ and builds its indexes on first access
  python3 "$HERE/pop3-bench.py" --port 10110 --parallel 10 >>"$LOG"
  python3 "$HERE/pop3-bench.py" --port 20110 --parallel 10 --user-fmt 'bench%d@example.test' --password $KP_PW >>"$LOG"
  # Dovecot twice: with the peer's {PLAIN} passwords, and with {ARGON2ID} ones (the cost class of
  # kantorpos's default hashes), since a POP3 session's login is a large part of its cost.
  for r in $(seq 1 "$REPS"); do
    for p in 1 10 50; do
      rounds=3; [ $p = 1 ] && rounds=1
      servers="kantorpos dovecot dovecot-argon2id"; (( r % 2 == 0 )) && servers="dovecot-argon2id dovecot kantorpos"
      for srv in $servers; do
        case $srv in
          kantorpos) port=20110 pw=$KP_PW ;;
          dovecot) port=10110 pw=$PEER_PW; "$HERE/dovecot-passwords.sh" plain >>"$LOG" ;;
          dovecot-argon2id) port=10110 pw=$PEER_PW; "$HERE/dovecot-passwords.sh" argon2id >>"$LOG" ;;
        esac
        pre="phase=pop3 server=$srv client=pop3-bench.py round=$r load1=$(load1)"
        python3 "$HERE/pop3-bench.py" --port $port --parallel $p --rounds $rounds --user-fmt 'bench%d@example.test' --password $pw | sed 's/client=raw/pyclient=raw/' | record "$pre" || log "FAILED, continuing: see $LOG"
        pre="phase=pop3 server=$srv client=kantorpos-bench round=$r load1=$(load1)"
        "$KP" bench pop3 -addr 127.0.0.1:$port -parallel $p -rounds $rounds -password $pw | record "$pre" || log "FAILED, continuing: see $LOG"
      done
    done
  done
  "$HERE/dovecot-passwords.sh" plain >>"$LOG"
}

phase_e2e() {
  [ $IMAP_KP = yes ] || log "e2e: kantorpos has no IMAP listener; only the peers are measured"
  for r in $(seq 1 "$REPS"); do
    for pairs in 1 10; do
      servers="kantorpos postfix+dovecot"; (( r % 2 == 0 )) && servers="postfix+dovecot kantorpos"
      for srv in $servers; do
        if [ $srv = kantorpos ]; then
          [ $IMAP_KP = yes ] || continue
          a=(-smtp 127.0.0.1:20025 -imap 127.0.0.1:20143 -password $KP_PW)
        else
          a=(-smtp 127.0.0.1:10025 -imap 127.0.0.1:10143 -password $PEER_PW)
        fi
        "$KP" bench e2e "${a[@]}" -pairs $pairs -messages 50 | record "phase=e2e server=$srv client=kantorpos-bench round=$r load1=$(load1)" || log "FAILED, continuing: see $LOG"
      done
    done
  done
}

IMAP_FIRST=$((50 - IMAP_USERS + 1))
phase_imap() {
  # IMAP_USERS mailboxes (bench47..50) of the same IMAP_MSGS messages (gen-mbox.py, seed 2), delivered by
  # each server over SMTP.
  [ -s "$OUT/imap.mbox" ] || python3 "$HERE/gen-mbox.py" "$OUT/imap.mbox" "$IMAP_MSGS" 2 >>"$LOG"
  base=$(maildir_count); t0=$(date +%s.%N)
  "$KP" bench fill -via smtp -addr 127.0.0.1:10025 -mbox "$OUT/imap.mbox" -users "$IMAP_USERS" -first-user $IMAP_FIRST | record "phase=fill server=postfix" || log "FAILED, continuing: see $LOG"
  wait_delivered "$base" $((IMAP_MSGS * IMAP_USERS)) "$t0" >>"$LOG" || log "Postfix did not deliver everything"
  if [ $IMAP_KP = yes ]; then
    "$KP" bench fill -via smtp -addr 127.0.0.1:20025 -mbox "$OUT/imap.mbox" -users "$IMAP_USERS" -first-user $IMAP_FIRST | record "phase=fill server=kantorpos" || log "FAILED, continuing: see $LOG"
  else
    log "imap: kantorpos has no IMAP listener; only Dovecot is measured"
  fi
  for r in $(seq 1 "$REPS"); do
    for c in 1 $IMAP_USERS; do
      servers="kantorpos dovecot"; (( r % 2 == 0 )) && servers="dovecot kantorpos"
      for srv in $servers; do
        if [ $srv = kantorpos ]; then
          [ $IMAP_KP = yes ] || continue
          a=(-addr 127.0.0.1:20143 -password $KP_PW)
        else
          a=(-addr 127.0.0.1:10143 -password $PEER_PW)
        fi
        "$KP" bench imap "${a[@]}" -clients $c -users "$IMAP_USERS" -first-user $IMAP_FIRST -reps 2 -warmup 1 -word invoice,mallory |
          record "phase=imap server=$srv client=kantorpos-bench round=$r load1=$(load1)" || log "FAILED, continuing: see $LOG"
      done
    done
  done
}

phase_mem() {
  # Idle logged-in connections (INBOX selected, IDLE), users bench1..46, opened in steps
  # within one session so that the marginal cost between steps is measured too. kantorpos is measured
  # after 5 minutes of quiet at each step: a Go process gives the heap it freed (here mostly the 64 MiB
  # argon2id working memory of each login) back to the OS only after the forced GC (every 2 minutes)
  # and the scavenger; Dovecot's processes are stable after seconds.
  users=$((IMAP_FIRST - 1))
  for r in $(seq 1 "$REPS"); do
    servers="kantorpos dovecot"; (( r % 2 == 0 )) && servers="dovecot kantorpos"
    for srv in $servers; do
      if [ $srv = kantorpos ]; then
        [ $IMAP_KP = yes ] || continue
        # a fresh process, so that earlier phases do not sit in the baseline
        "$HERE/kantorpos-stop.sh" >>"$LOG"; kp_start
        steps=$KP_MEM_STEPS; (( r > 1 )) && steps=${KP_MEM_STEPS%%,*}   # the 10,000 step once
        a=(-addr 127.0.0.1:20143 -password $KP_PW -pid "$(kp_pid)" -settle "$KP_SETTLE")
      else
        # Dovecot serves one connection per imap process and peer-conf allows 1000 of them
        steps=$DOVECOT_MEM_STEPS
        a=(-addr 127.0.0.1:10143 -password $PEER_PW -exe /usr/sbin/dovecot -exe /usr/lib/dovecot/ -settle 30s)
      fi
      # spread over 4 source addresses so that local ports never run short
      "$KP" bench idle-mem "${a[@]}" -conns "$steps" -users $users -sources 4 -warmup 16 -timeout 10m 2>>"$LOG" |
        record "phase=mem server=$srv client=kantorpos-bench round=$r load1=$(load1)" || log "FAILED, continuing: see $LOG"
    done
  done
}

phase_profile() {
  # A CPU profile of kantorpos serve during the SMTP run (smtp-source, 50 sessions, a connection per message).
  "$HERE/kantorpos-stop.sh" >>"$LOG"
  RESET_MAIL=1 CPUPROFILE=$OUT/cpu-smtp.prof "$HERE/kantorpos-start.sh" >>"$LOG" 2>&1
  "$HERE/smtp-bench.sh" -n "$SMTP_TOTAL" -s 50 -p 20025 | record "phase=profile server=kantorpos client=smtp-source round=1 load1=$(load1)" || log "FAILED, continuing: see $LOG"
  "$HERE/kantorpos-stop.sh" >>"$LOG"
  go tool pprof -top -nodecount 40 "$KP" "$OUT/cpu-smtp.prof" > "$OUT/cpu-smtp.top" 2>/dev/null
  go tool pprof -top -cum -nodecount 60 "$KP" "$OUT/cpu-smtp.prof" > "$OUT/cpu-smtp.cum" 2>/dev/null
  kp_start
}

for ph in $PHASES; do
  log "phase $ph (load $(cut -d' ' -f1-3 /proc/loadavg))"
  "phase_$ph"
done
uptime | tee -a "$LOG"
python3 "$HERE/report.py" "$RES" | tee "$OUT/report.md"
