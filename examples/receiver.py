#!/usr/bin/env python3
"""A tiny HTTPS webhook receiver for the example clients (standard library only).

It answers every POST with 200 and, as the body, the request it got:
`{"path", "headers", "body"}` (the raw body as text). The service keeps the
first 4 KiB of each answer as the attempt's `response_excerpt`, so a client
can read back through GetDelivery exactly what was delivered and check its
signatures without any channel to the receiver.

    receiver.py --cert server.pem --key server.key --port-file PATH

It listens on 127.0.0.1, on a free port that it writes to PATH once ready.
"""

import argparse
import json
import os
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class EchoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        echo = json.dumps(
            {
                "path": self.path,
                "headers": {name.lower(): value for name, value in self.headers.items()},
                "body": body.decode("utf-8", errors="replace"),
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(echo)))
        self.end_headers()
        self.wfile.write(echo)

    def log_message(self, format, *args):
        sys.stderr.write("receiver: %s\n" % (format % args))


class TLSServer(ThreadingHTTPServer):
    """Does each TLS handshake in the connection's own thread, not in accept()."""

    def __init__(self, address, handler, context):
        super().__init__(address, handler)
        self.context = context

    def finish_request(self, request, client_address):
        with self.context.wrap_socket(request, server_side=True) as tls:
            self.RequestHandlerClass(tls, client_address, self)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cert", required=True, help="PEM certificate chain of the server")
    parser.add_argument("--key", required=True, help="PEM private key of the server")
    parser.add_argument("--port-file", required=True, help="where to write the port once listening")
    args = parser.parse_args()

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    server = TLSServer(("127.0.0.1", 0), EchoHandler, context)
    # Written whole, then renamed: whoever waits for the file never reads half of it.
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(args.port_file + ".tmp", args.port_file)
    print(f"receiver: listening on https://127.0.0.1:{server.server_address[1]}", file=sys.stderr)
    server.serve_forever()


if __name__ == "__main__":
    main()
