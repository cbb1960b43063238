#!/usr/bin/env python3
"""A loopback HTTP/1.1 backend for the Caddy and HAProxy fixtures: keep-alive
connections; a path ending in -v that arrives on a reused connection is
closed without an answer (close-on-reuse, what the race looks like to the
proxy); -500 answers 500; /slow/ answers after 1s. Port from argv[1]."""
import socket, socketserver, sys, time


class Handler(socketserver.StreamRequestHandler):
    timeout = 30

    def handle(self):
        n = 0
        while True:
            line = self.rfile.readline()
            if not line:
                return
            method, path, _ = line.decode().split(" ", 2)
            length = 0
            while True:
                h = self.rfile.readline()
                if h in (b"\r\n", b"\n", b""):
                    break
                if h.lower().startswith(b"content-length:"):
                    length = int(h.split(b":")[1])
            if length:
                self.rfile.read(length)
            n += 1
            if path.endswith("-v") and n > 1:
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            status = "500 Internal Server Error" if path.endswith("-500") else "200 OK"
            if path.startswith("/slow/"):
                time.sleep(1)
            self.wfile.write(f"HTTP/1.1 {status}\r\nContent-Length: 2\r\n\r\nok".encode())


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


Server(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
