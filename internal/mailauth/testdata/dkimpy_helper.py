"""Drive dkimpy (Debian python3-dkim, python3-nacl) for interop_test.go.

  dkimpy_helper.py verify MSG RECORDS.json
      Verifies every DKIM-Signature of MSG with dkim.DKIM.verify, answering
      key queries from RECORDS.json ({"sel._domainkey.dom.": "v=DKIM1; ..."}).
      Prints one line per signature: "<index> pass" or "<index> fail".
  dkimpy_helper.py sign MSG SELECTOR DOMAIN KEYFILE ALG [length]
      Prints the DKIM-Signature field dkim.sign makes (relaxed/relaxed).
      KEYFILE holds a PKCS#1 PEM RSA key, or a base64 ed25519 seed.
"""
import json
import sys

import dkim
import nacl  # noqa: F401  (ed25519 support; fail early when missing)


def verify(msg_path, records_path):
    msg = open(msg_path, "rb").read()
    records = json.load(open(records_path))

    def dnsfunc(name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        if not name.endswith("."):
            name += "."
        value = records.get(name.lower())
        return value.encode() if value is not None else None

    d = dkim.DKIM(msg)
    count = sum(1 for k, _ in d.headers if k.lower() == b"dkim-signature")
    for i in range(count):
        ok = dkim.DKIM(msg).verify(idx=i, dnsfunc=dnsfunc)
        print(i, "pass" if ok else "fail")


def sign(msg_path, selector, domain, key_path, alg, length=False):
    msg = open(msg_path, "rb").read()
    key = open(key_path, "rb").read()
    sig = dkim.sign(msg, selector.encode(), domain.encode(), key,
                    signature_algorithm=alg.encode(),
                    canonicalize=(b"relaxed", b"relaxed"),
                    include_headers=[b"from", b"to", b"subject", b"date"],
                    length=length)
    sys.stdout.write(sig.decode())


if __name__ == "__main__":
    if sys.argv[1] == "verify":
        verify(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "sign":
        sign(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6],
             len(sys.argv) > 7 and sys.argv[7] == "length")
    else:
        sys.exit("unknown mode " + sys.argv[1])
