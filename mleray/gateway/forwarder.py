#!/usr/bin/env python3
"""mleray-model-forwarder: relay TCP connections on 127.0.0.1:PORT to a Unix socket.

Runs inside an agent's container (network: none), beside the agent, so that an unmodified
OpenAI client with OPENAI_BASE_URL=http://127.0.0.1:PORT/v1 reaches the node's model
gateway through the socket mounted into the container. Bytes pass through unchanged, in
both directions, one thread per direction per connection. Standard library only, so it runs
as `python3 -S forwarder.py` with any Python 3 and nothing installed.

    python3 -S forwarder.py --socket /run/mleray/gateway.sock [--port 4000] [--port-file F]

If the socket cannot be reached, the client gets an HTTP 502 with a JSON error saying so.
It only ever listens on loopback.
"""

import argparse
import json
import socket
import sys
import threading

CHUNK = 65536
UNREACHABLE = (
    b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: application/json\r\nConnection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s"
)


def pump(source, sink):
    """Copy until `source` ends, then tell `sink` no more is coming."""
    try:
        while True:
            data = source.recv(CHUNK)
            if not data:
                break
            sink.sendall(data)
    except OSError:
        pass
    finally:
        try:
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def unreachable(client, socket_path, error):
    message = (
        f"mleray model forwarder: the model gateway at {socket_path} does not answer "
        f"({type(error).__name__})"
    )
    error_body = {"message": message, "type": "api_error", "code": "gateway_unreachable"}
    body = json.dumps({"error": error_body}).encode()
    try:
        client.sendall(UNREACHABLE % (len(body), body))
    except OSError:
        pass


def handle(client, socket_path):
    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        upstream.connect(socket_path)
    except OSError as exc:
        unreachable(client, socket_path, exc)
        upstream.close()
        client.close()
        return
    back = threading.Thread(target=pump, args=(upstream, client), daemon=True)
    back.start()
    pump(client, upstream)
    back.join()
    upstream.close()
    client.close()


def serve(socket_path, port, host="127.0.0.1", port_file=None):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(128)
    bound = listener.getsockname()[1]
    if port_file:
        with open(port_file, "w") as f:
            f.write(f"{bound}\n")
    print(f"mleray-model-forwarder: 127.0.0.1:{bound} -> {socket_path}", flush=True)
    while True:
        client, _ = listener.accept()
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=handle, args=(client, socket_path), daemon=True).start()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="mleray-model-forwarder", description=__doc__)
    parser.add_argument("--socket", required=True, help="the gateway's Unix socket path")
    parser.add_argument("--port", type=int, default=4000, help="loopback port (0: any free)")
    parser.add_argument("--port-file", help="write the port listened on to this file")
    args = parser.parse_args(argv)
    try:
        serve(args.socket, args.port, port_file=args.port_file)
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        print(
            f"mleray-model-forwarder: cannot listen on 127.0.0.1:{args.port}: {exc}",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
