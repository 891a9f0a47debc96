"""Summarise `govulncheck -format json` (read from stdin).

Prints each vulnerability that our code calls, and how many more are only
imported or required. Exits 1 when a called one is in a module other than
the standard library (go get fixes those; the standard library's need a
newer Go toolchain, so they are reported without failing CI).
"""
import json
import sys

data, dec, i = sys.stdin.read(), json.JSONDecoder(), 0
osv, called, seen = {}, {}, set()
while i < len(data):
    if data[i].isspace():
        i += 1
        continue
    obj, i = dec.raw_decode(data, i)
    if "osv" in obj:
        osv[obj["osv"]["id"]] = obj["osv"].get("summary", "")
    f = obj.get("finding")
    if not f:
        continue
    seen.add(f["osv"])
    top = f["trace"][0]
    if top.get("function"):
        called[f["osv"]] = (top.get("module", "?"), top.get("version", "?"), f.get("fixed_version", "none"))
bad = 0
for vid in sorted(called):
    mod, ver, fixed = called[vid]
    print(f"govulncheck: {vid} called, in {mod}@{ver}, fixed in {fixed}: {osv.get(vid, '')}")
    if mod != "stdlib":
        bad += 1
print(f"govulncheck: {len(called)} called ({bad} outside the standard library), "
      f"{len(seen - set(called))} more in imported packages or required modules but not called")
sys.exit(1 if bad else 0)
