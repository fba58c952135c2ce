"""Conformance service: on 127.0.0.1:PORT, answers each connection with b"echo:" and what
it read (until the client shuts its side)."""

import socketserver
import sys


class Echo(socketserver.StreamRequestHandler):
    def handle(self):
        self.wfile.write(b"echo:" + self.rfile.read())


socketserver.ThreadingTCPServer.allow_reuse_address = True
with socketserver.ThreadingTCPServer(("127.0.0.1", int(sys.argv[1])), Echo) as server:
    server.serve_forever()
