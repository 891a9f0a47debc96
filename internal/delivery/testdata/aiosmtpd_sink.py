"""A mail sink for TestAiosmtpd: aiosmtpd (Debian python3-aiosmtpd) on
127.0.0.1 and an ephemeral port, printed on the first line of stdout.

Usage: aiosmtpd_sink.py OUTDIR [CERTFILE KEYFILE]

Each message is written to OUTDIR/msgN.json with its envelope, the ESMTP
parameters, whether TLS was on, and the content as aiosmtpd stored it
(after removing the dot-stuffing), base64-encoded. With a certificate the
sink offers STARTTLS. It runs until killed.
"""
import asyncio
import base64
import json
import os
import ssl
import sys

from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self, outdir):
        self.outdir = outdir
        self.n = 0

    async def handle_DATA(self, server, session, envelope):
        self.n += 1
        rec = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "mail_options": envelope.mail_options,
            "rcpt_options": envelope.rcpt_options,
            "tls": session.ssl is not None,
            "content": base64.b64encode(envelope.original_content).decode("ascii"),
        }
        tmp = os.path.join(self.outdir, "msg%d.tmp" % self.n)
        with open(tmp, "w") as f:
            json.dump(rec, f)
        os.rename(tmp, os.path.join(self.outdir, "msg%d.json" % self.n))
        return "250 2.0.0 stored"


async def main():
    outdir = sys.argv[1]
    tls = None
    if len(sys.argv) > 3:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(sys.argv[2], sys.argv[3])
    sink = Sink(outdir)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(sink, hostname="mx.b.test", enable_SMTPUTF8=True,
                     tls_context=tls, loop=loop),
        "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
