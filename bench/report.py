#!/usr/bin/env python3
"""Medians and kantorpos/peer ratios of a run-peers.sh results file, as Markdown tables.

usage: report.py results.txt
Every figure is the median over the rounds of the run. Ratios are kantorpos / peer: above 1 means
kantorpos is faster for throughputs, and slower (or bigger) for latencies and memory.
"""
import collections, statistics, sys

rows = []
for line in open(sys.argv[1]):
    kv = {}
    for p in line.split():
        if "=" in p:
            k, v = p.split("=", 1)
            kv.setdefault(k, v)  # the prefix added by run-peers.sh wins
    if "phase" in kv:
        rows.append(kv)


def med(phase, server, key, **match):
    vals = []
    for r in rows:
        if r.get("phase") != phase or r.get("server") != server or key not in r:
            continue
        if all(r.get(k) == str(v) for k, v in match.items()):
            try:
                vals.append(float(r[key]))
            except ValueError:
                pass
    return (statistics.median(vals), len(vals)) if vals else (None, 0)


def fmt(x, digits=0):
    if x is None:
        return "–"
    if digits == 0 and abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:,.{max(digits, 1) if abs(x) < 100 else 0}f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "–"
    return f"**{a / b:.2f}**"


def runs(*ns):
    ns = [n for n in ns if n]
    return f"{min(ns)}" if ns else "0"


def loads(phase):
    ls = [float(r["load1"]) for r in rows if r.get("phase") == phase and "load1" in r]
    return f"load1 {min(ls):.2f}–{max(ls):.2f}" if ls else ""


out = []
if any(r["phase"] == "smtp" for r in rows):
    out += ["### SMTP: accepted and delivered, 5 KB messages", f"({loads('smtp')}; runs per median: see column n)", "",
            "| client | sessions | connection | kantorpos msg/s (250 = delivered, fsynced) | Postfix accepted msg/s | Postfix delivered to Maildir msg/s | **kantorpos / Postfix delivered** | kantorpos / Postfix accepted | n |",
            "|---|---|---|---|---|---|---|---|---|"]
    for client in ("smtp-source", "kantorpos-bench"):
        for keep in ("no", "yes"):
            for s in ("10", "50"):
                acc = "accept_mps" if client == "smtp-source" else "msgs_per_s"
                k, nk = med("smtp", "kantorpos", acc, client=client, sessions=s, keepalive=keep)
                pa, npa = med("smtp", "postfix", acc, client=client, sessions=s, keepalive=keep)
                pd, npd = med("smtp", "postfix", "deliver_mps", client=client, sessions=s, keepalive=keep)
                if nk == 0 and npa == 0:
                    continue
                conn = "reused" if keep == "yes" else "new per message"
                out.append(f"| {client} | {s} | {conn} | {fmt(k)} | {fmt(pa)} | {fmt(pd)} | {ratio(k, pd)} | {ratio(k, pa)} | {runs(nk, npd)} |")
    out += ["", "Latency to the final 250 (kantorpos bench; ms, p50 / p99; Postfix's 250 means queued, not yet in the Maildir):", "",
            "| sessions | connection | kantorpos total p50 / p99 | Postfix total p50 / p99 | kantorpos end-of-DATA→250 p50 / p99 | Postfix end-of-DATA→250 p50 / p99 |",
            "|---|---|---|---|---|---|"]
    for keep in ("no", "yes"):
        for s in ("10", "50"):
            m = dict(client="kantorpos-bench", sessions=s, keepalive=keep)
            cells = []
            for key in ("total", "data"):
                for srv in ("kantorpos", "postfix"):
                    a, _ = med("smtp", srv, key + "_p50_ms", **m)
                    b, _ = med("smtp", srv, key + "_p99_ms", **m)
                    cells.append(f"{fmt(a, 1)} / {fmt(b, 1)}")
            conn = "reused" if keep == "yes" else "new per message"
            out.append(f"| {s} | {conn} | {cells[0]} | {cells[1]} | {cells[2]} | {cells[3]} |")
    out.append("")

if any(r["phase"] == "pop3" for r in rows):
    out += ["### POP3: full download of 50 maildrops (100 messages each)", f"({loads('pop3')})", "",
            "Dovecot with the peer's {PLAIN} passwords, and with {ARGON2ID} ones (kantorpos always verifies argon2id).", "",
            "| client | parallel | kantorpos msg/s | Dovecot PLAIN msg/s | **ratio** | Dovecot ARGON2ID msg/s | **ratio** | kantorpos / Dovecot PLAIN / ARGON2ID MB/s | login p50 ms kantorpos / PLAIN / ARGON2ID | n |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for client in ("pop3-bench.py", "kantorpos-bench"):
        for p in ("1", "10", "50"):
            m = dict(client=client, parallel=p)
            k, nk = med("pop3", "kantorpos", "msgs_per_s", **m)
            d, nd = med("pop3", "dovecot", "msgs_per_s", **m)
            a, na = med("pop3", "dovecot-argon2id", "msgs_per_s", **m)
            mb = " / ".join(fmt(med("pop3", s, "MB_per_s", **m)[0], 1) for s in ("kantorpos", "dovecot", "dovecot-argon2id"))
            if client == "kantorpos-bench":
                lg = " / ".join(fmt(med("pop3", s, "login_p50_ms", **m)[0], 1) for s in ("kantorpos", "dovecot", "dovecot-argon2id"))
            else:
                lg = "–"
            out.append(f"| {client} | {p} | {fmt(k)} | {fmt(d)} | {ratio(k, d)} | {fmt(a)} | {ratio(k, a)} | {mb} | {lg} | {runs(nk, nd)} |")
    out.append("")

if any(r["phase"] == "imap" for r in rows):
    out += ["### IMAP: mailboxes of 10,000 messages (kantorpos bench imap)", f"({loads('imap')})", "",
            "| operation | clients | kantorpos ops/s | Dovecot ops/s | **ratio** | kantorpos msg/s | Dovecot msg/s | kantorpos latency p50 / p99 ms | Dovecot latency p50 / p99 ms | n |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    ops = []
    for r in rows:
        if r["phase"] == "imap" and (r.get("op"), r.get("word", "")) not in ops:
            ops.append((r.get("op"), r.get("word", "")))
    clients = sorted({r["clients"] for r in rows if r["phase"] == "imap"}, key=int)
    for op, word in ops:
        for c in clients:
            m = dict(op=op, clients=c)
            if word:
                m["word"] = word
            k, nk = med("imap", "kantorpos", "ops_per_s", **m)
            d, nd = med("imap", "dovecot", "ops_per_s", **m)
            km, _ = med("imap", "kantorpos", "msgs_per_s", **m)
            dm, _ = med("imap", "dovecot", "msgs_per_s", **m)
            lat = []
            for srv in ("kantorpos", "dovecot"):
                a, _ = med("imap", srv, "lat_p50_ms", **m)
                b, _ = med("imap", srv, "lat_p99_ms", **m)
                lat.append(f"{fmt(a, 1)} / {fmt(b, 1)}")
            extra = ""
            if op == "search":
                hk, _ = med("imap", "kantorpos", "hits", **m)
                hd, _ = med("imap", "dovecot", "hits", **m)
                extra = f" TEXT {word or 'invoice'} (hits {fmt(hk)} / {fmt(hd)})"
            out.append(f"| {op}{extra} | {c} | {fmt(k, 1)} | {fmt(d, 1)} | {ratio(k, d)} | {fmt(km)} | {fmt(dm)} | {lat[0]} | {lat[1]} | {runs(nk, nd)} |")
    out.append("")

if any(r["phase"] == "e2e" for r in rows):
    out += ["### SMTP → IDLE: end of DATA to EXISTS at an IDLE-ing client (ms)", f"({loads('e2e')})", "",
            "| pairs | kantorpos p50 / p99 | Postfix+Dovecot p50 / p99 | kantorpos 250→EXISTS p50 / p99 | Postfix+Dovecot 250→EXISTS p50 / p99 | ratio of p99 | n |",
            "|---|---|---|---|---|---|---|"]
    for pairs in sorted({r["pairs"] for r in rows if r["phase"] == "e2e"}, key=int):
        cells, p99 = [], {}
        for key in ("e2e", "after250"):
            for srv in ("kantorpos", "postfix+dovecot"):
                a, n = med("e2e", srv, key + "_p50_ms", pairs=pairs)
                b, _ = med("e2e", srv, key + "_p99_ms", pairs=pairs)
                cells.append(f"{fmt(a, 1)} / {fmt(b, 1)}")
                if key == "e2e":
                    p99[srv] = (b, n)
        out.append(f"| {pairs} | {' | '.join(cells)} | {ratio(p99['kantorpos'][0], p99['postfix+dovecot'][0])} | {runs(p99['kantorpos'][1], p99['postfix+dovecot'][1])} |")
    out.append("")

if any(r["phase"] == "mem" for r in rows):
    out += ["### Memory per idle IMAP connection (logged in, INBOX selected, IDLE; KiB)", f"({loads('mem')})", "",
            "Per connection: growth over the baseline / connections. Marginal: growth since the previous step / connections added.", "",
            "| connections | kantorpos PSS / private per conn | kantorpos marginal PSS per conn | Dovecot PSS / private per conn | Dovecot marginal PSS per conn | **ratio (PSS)** | kantorpos RSS total | logins/s kantorpos / Dovecot | all alive | n |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for n in sorted({r["conns"] for r in rows if r["phase"] == "mem"}, key=int):
        kp, nk = med("mem", "kantorpos", "per_conn_pss_kib", conns=n)
        kv, _ = med("mem", "kantorpos", "per_conn_private_kib", conns=n)
        km, _ = med("mem", "kantorpos", "step_per_conn_pss_kib", conns=n)
        dp, nd = med("mem", "dovecot", "per_conn_pss_kib", conns=n)
        dv, _ = med("mem", "dovecot", "per_conn_private_kib", conns=n)
        dm, _ = med("mem", "dovecot", "step_per_conn_pss_kib", conns=n)
        rss, _ = med("mem", "kantorpos", "rss_kib", conns=n)
        kl, _ = med("mem", "kantorpos", "logins_per_s", conns=n)
        dl, _ = med("mem", "dovecot", "logins_per_s", conns=n)
        alive = all(int(r.get("alive", 0)) >= int(r["conns"]) for r in rows if r["phase"] == "mem" and r.get("conns") == n)
        out.append(f"| {n} | {fmt(kp, 1)} / {fmt(kv, 1)} | {fmt(km, 1)} | {fmt(dp, 1)} / {fmt(dv, 1)} | {fmt(dm, 1)} | {ratio(kp, dp)} | "
                   f"{fmt(rss / 1024 if rss else None, 1)} MiB | {fmt(kl, 1)} / {fmt(dl, 1)} | {'yes' if alive else 'NO'} | {runs(nk, nd)} |")
    out.append("")

print("\n".join(out))
