"""Conformance service: on 127.0.0.1:PORT, relays each connection to the Unix socket
$MLERAY_TEST_SOCKETS/host.sock (a host folder mounted in) and the answer back."""

import os
import socket
import socketserver
import sys

TARGET = os.path.join(os.environ["MLERAY_TEST_SOCKETS"], "host.sock")


class Relay(socketserver.StreamRequestHandler):
    def handle(self):
        request = self.rfile.read()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as upstream:
            upstream.connect(TARGET)
            upstream.sendall(request)
            upstream.shutdown(socket.SHUT_WR)
            while chunk := upstream.recv(65536):
                self.wfile.write(chunk)


socketserver.ThreadingTCPServer.allow_reuse_address = True
with socketserver.ThreadingTCPServer(("127.0.0.1", int(sys.argv[1])), Relay) as server:
    server.serve_forever()
