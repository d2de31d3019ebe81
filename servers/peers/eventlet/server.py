"""server.py: the eventlet peer (servers/peers/README.md, "eventlet").

eventlet.monkey_patch() first, so sockets are green: one OS thread, one hub,
a green thread per connection whose code reads as blocking (the style of
OpenStack Nova's services). echo is a recv/sendall loop; http is
eventlet.wsgi (the server Nova runs its API with) and a small WSGI
application that reads the file per request.

  /usr/bin/python3 server.py echo|http HOST PORT ROOT

Run by servers/peers/eventlet/serve, which checks the arguments first.
"""
import eventlet

eventlet.monkey_patch()

import mimetypes  # noqa: E402  (after monkey_patch, as eventlet asks)
import os  # noqa: E402
import posixpath  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import urllib.parse  # noqa: E402

from eventlet import wsgi  # noqa: E402


def echo(sock):
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return
            sock.sendall(data)
    except OSError:
        pass
    finally:
        sock.close()


def serve_echo(listener):
    pool = eventlet.GreenPool(size=1 << 30)  # no cap: a green thread per connection
    while True:
        sock, _ = listener.accept()
        pool.spawn_n(echo, sock)


def file_app(root):
    def app(environ, start_response):
        method = environ["REQUEST_METHOD"]
        if method not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD"), ("Content-Length", "0")])
            return [b""]
        rel = posixpath.normpath("/" + urllib.parse.unquote(environ["PATH_INFO"]))
        name = os.path.join(root, rel.lstrip("/"))
        try:
            with open(name, "rb") as f:
                if not os.path.isfile(name):
                    raise OSError
                body = f.read() if method == "GET" else b""
                size = os.fstat(f.fileno()).st_size
        except OSError:
            start_response("404 Not Found", [("Content-Length", "0")])
            return [b""]
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        start_response("200 OK", [("Content-Type", kind), ("Content-Length", str(size))])
        return [body]

    return app


class NoLog:
    def write(self, *args):
        pass


def main():
    proto, host, port, root = sys.argv[1:5]
    listener = eventlet.listen((host, int(port)), backlog=65535)
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    signal.signal(signal.SIGINT, lambda *a: os._exit(0))
    bound = listener.getsockname()[1]
    print(f"listening {host}:{bound} model=peer:eventlet proto={proto} pid={os.getpid()}", flush=True)
    if proto == "http":
        wsgi.server(listener, file_app(os.path.abspath(root)), log=NoLog(), log_output=False,
                    max_size=1 << 30, keepalive=True, socket_timeout=None)
    else:
        serve_echo(listener)


if __name__ == "__main__":
    main()
