"""server.py: the peers python-threads and python-fork (servers/peers/README.md).

Python's own socketserver with ThreadingMixIn (an OS thread per
connection, all of them under the GIL) or ForkingMixIn (a forked process
per connection): the article's multithreading and multiprocessing as a
Python programmer writes them. echo is a recv/sendall loop; http is the
standard library's http.server.SimpleHTTPRequestHandler (what
`python3 -m http.server` runs) speaking HTTP/1.1, with request logging off
and a 404 that keeps the connection open.

  /usr/bin/python3 server.py threads|fork echo|http HOST PORT ROOT NAME

Run by the `serve` launchers, which check the arguments first.
"""
import functools
import http.server
import os
import signal
import socket
import socketserver
import sys


def somaxconn():
    try:
        with open("/proc/sys/net/core/somaxconn") as f:
            return int(f.read())
    except (OSError, ValueError):
        return socket.SOMAXCONN


class EchoHandler(socketserver.StreamRequestHandler):
    disable_nagle_algorithm = True

    def handle(self):
        sock = self.request
        while True:
            data = sock.recv(65536)
            if not data:
                return
            sock.sendall(data)


class FileHandler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive (the default, HTTP/1.0, closes)
    disable_nagle_algorithm = True

    def log_message(self, format, *args):  # no access log, as nginx runs here
        pass

    def send_error(self, code, message=None, explain=None):
        # http.server closes the connection after every error; a missing
        # file keeps it open, as bench_server and nginx do.
        if code != 404:
            return super().send_error(code, message, explain)
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()


def make_server(mode, proto, host, port, root):
    mixin = socketserver.ThreadingMixIn if mode == "threads" else socketserver.ForkingMixIn
    base = http.server.HTTPServer if proto == "http" else socketserver.TCPServer

    class Server(mixin, base):
        allow_reuse_address = True
        daemon_threads = True  # threads: a stop does not wait for open connections
        max_children = 1 << 30  # fork: no cap (socketserver's default, 40, stalls accepting)
        request_queue_size = somaxconn()  # socketserver's default backlog is 5

    handler = EchoHandler
    if proto == "http":
        handler = functools.partial(FileHandler, directory=root)
    return Server((host, port), handler)


class Stop(BaseException):
    pass


def main():
    mode, proto, host, port, root, name = sys.argv[1:7]
    server = make_server(mode, proto, host, int(port), root)

    def on_signal(signum, frame):
        raise Stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    main_pid = os.getpid()
    bound = server.server_address[1]
    print(f"listening {host}:{bound} model=peer:{name} proto={proto} pid={main_pid}", flush=True)
    try:
        server.serve_forever()
    except Stop:
        pass
    if os.getpid() != main_pid:  # a forked child caught the signal
        os._exit(0)
    server.socket.close()
    for pid in list(getattr(server, "active_children", None) or ()):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for pid in list(getattr(server, "active_children", None) or ()):
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    sys.stdout.flush()
    os._exit(0)  # threads: do not wait for the connections' daemon threads


if __name__ == "__main__":
    main()
