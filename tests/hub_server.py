#!/usr/bin/env python3
"""A local stand-in for the Hugging Face hub's file endpoint, for the hub download tests.

Serves ROOT/<owner>/<name>/<file> at /<owner>/<name>/resolve/<revision>/<file> (any revision)
the way huggingface.co does:
  - a small (non-LFS) file: 200 with the content and ETag "<git blob sha1>";
  - an LFS file: 302 to /cdn/<owner>/<name>/<file> with X-Linked-Etag "<sha256>",
    X-Linked-Size and ETag "<sha256>"; /cdn/... serves the content (ETag: an md5, as S3 does).
Range requests ("bytes=N-" and "bytes=N-M") are answered with 206; HEAD works too; a missing
file is a 404.

Per-repo behaviour comes from ROOT/<owner>/<name>/hub.json (all keys optional):
  {"lfs": ["model.safetensors"],       files served as LFS (redirect + sha256)
   "cut_once": ["model.safetensors"],  the first content response of the file sends half of the
                                       body and closes the connection
   "bad_sha": ["model.safetensors"],   advertise a wrong sha256
   "token": "secret",                  answer 401 unless "Authorization: Bearer secret"
   "ignore_range": true}               answer Range requests with the whole file (200)

Usage: python3 tests/hub_server.py --root DIR [--log FILE]
Prints "PORT <n>" on stdout once listening on 127.0.0.1; every request is appended to the log
as a JSON line {"method", "path", "range", "auth", "status"}. Standard library only.
"""

import argparse
import hashlib
import json
import os
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

LOCK = threading.Lock()
CUT_DONE = set()


def git_blob_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hub-test/1"

    def log_message(self, fmt, *args):  # quiet: the JSON log is enough
        pass

    def record(self, status):
        if not self.server.log_path:
            return
        entry = {"method": self.command, "path": self.path,
                 "range": self.headers.get("Range"), "auth": self.headers.get("Authorization"),
                 "status": status}
        with LOCK, open(self.server.log_path, "a") as f:
            f.write(json.dumps(entry) + "\n")

    def reply(self, status, headers=(), body=b""):
        self.record(status)
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def repo_config(self, owner, name):
        path = os.path.join(self.server.root, owner, name, "hub.json")
        try:
            with open(path) as f:
                return json.load(f)
        except OSError:
            return {}

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        parts = [unquote(p) for p in urlsplit(self.path).path.split("/") if p]
        if len(parts) >= 5 and parts[2] == "resolve":
            owner, name, filename = parts[0], parts[1], "/".join(parts[4:])
            self.resolve(owner, name, filename)
        elif len(parts) >= 4 and parts[0] == "cdn":
            owner, name, filename = parts[1], parts[2], "/".join(parts[3:])
            self.content(owner, name, filename, lfs=True)
        else:
            self.reply(404, body=b"not found")

    def authorised(self, cfg):
        token = cfg.get("token")
        return not token or self.headers.get("Authorization") == "Bearer " + token

    def load(self, owner, name, filename):
        if ".." in (owner, name) or ".." in filename.split("/") or filename == "hub.json":
            return None
        path = os.path.join(self.server.root, owner, name, filename)
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError:
            return None

    def resolve(self, owner, name, filename):
        cfg = self.repo_config(owner, name)
        if not self.authorised(cfg):
            return self.reply(401, body=b"unauthorized")
        data = self.load(owner, name, filename)
        if data is None:
            return self.reply(404, [("X-Error-Code", "EntryNotFound")], b"Entry not found")
        if filename not in cfg.get("lfs", []):
            return self.content(owner, name, filename, lfs=False, data=data, cfg=cfg)
        sha = hashlib.sha256(data).hexdigest()
        if filename in cfg.get("bad_sha", []):
            sha = hashlib.sha256(data + b"x").hexdigest()
        self.reply(302, [("Location", "/cdn/%s/%s/%s" % (owner, name, filename)),
                         ("X-Linked-Etag", '"%s"' % sha), ("X-Linked-Size", str(len(data))),
                         ("ETag", '"%s"' % sha), ("X-Repo-Commit", "0" * 40)])

    def content(self, owner, name, filename, lfs, data=None, cfg=None):
        cfg = cfg if cfg is not None else self.repo_config(owner, name)
        data = data if data is not None else self.load(owner, name, filename)
        if data is None:
            return self.reply(404, body=b"not found")
        etag = hashlib.md5(data).hexdigest() if lfs else git_blob_sha1(data)
        headers = [("ETag", '"%s"' % etag), ("Accept-Ranges", "bytes")]
        start, end, status = 0, len(data), 200
        rng = self.headers.get("Range")
        if rng and not cfg.get("ignore_range"):
            try:
                unit, spec = rng.split("=", 1)
                a, b = spec.split("-", 1)
                start = int(a)
                end = int(b) + 1 if b else len(data)
                assert unit.strip() == "bytes"
            except (ValueError, AssertionError):
                return self.reply(400, body=b"bad range")
            if start >= len(data):
                return self.reply(416, [("Content-Range", "bytes */%d" % len(data))])
            end = min(end, len(data))
            status = 206
            headers.append(("Content-Range", "bytes %d-%d/%d" % (start, end - 1, len(data))))
        body = data[start:end]
        key = (owner, name, filename)
        with LOCK:
            cut = filename in cfg.get("cut_once", []) and key not in CUT_DONE and len(body) > 1
            if cut:
                CUT_DONE.add(key)
        if not cut:
            return self.reply(status, headers, body)
        # Promise the whole body, send half of it, and drop the connection.
        self.record(status)
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.close_connection = True


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # clients that drop the connection (after a cut, or a refused resume) are expected
        if not isinstance(sys.exc_info()[1], (ConnectionError, BrokenPipeError)):
            super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser(description="local hub for the vkdetr download tests")
    ap.add_argument("--root", required=True)
    ap.add_argument("--log")
    args = ap.parse_args()
    server = Server(("127.0.0.1", 0), Handler)
    server.root = os.path.abspath(args.root)
    server.log_path = args.log
    print("PORT %d" % server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
