#!/usr/bin/env python3
"""A local stand-in for a public etcd discovery service (discovery.etcd.io),
for tests only. The first path segment picks the behaviour:
  /ok/new?size=N       200, a new cluster URL ending in -N (the size asked for)
  /error/new           503 every time
  /garbage/new         200, an HTML page instead of a URL
  /flaky/new           503 twice, then a URL
  /slow/new            first request hangs past the client's timeout, then a URL
Usage: fake-discovery.py PORT_FILE  (writes the port it listens on to PORT_FILE)"""
import http.server
import sys
import threading
import time
import uuid

counts = {}
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        mode = self.path.strip("/").split("/")[0]
        with lock:
            counts[mode] = counts.get(mode, 0) + 1
            n = counts[mode]
        base = "http://127.0.0.1:%d/%s" % (self.server.server_port, mode)
        if mode == "error" or (mode == "flaky" and n <= 2):
            return self.reply(503, "service unavailable\n")
        if mode == "garbage":
            return self.reply(200, "<html><body>oops</body></html>\n")
        if mode == "slow" and n == 1:
            time.sleep(15)
        if "/new" in self.path and "size=" in self.path:
            size = self.path.split("size=")[1].split("&")[0]
            return self.reply(200, "%s/%s-%s\n" % (base, uuid.uuid4().hex, size))
        return self.reply(404, "not found\n")

    def reply(self, status, body):
        data = body.encode()
        try:
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[1], "w") as f:
    f.write(str(server.server_port))
server.serve_forever()
