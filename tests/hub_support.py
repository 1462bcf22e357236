"""A stand-in for the Hugging Face Hub on 127.0.0.1: just the HTTP endpoints huggingface_hub's upload
(`create_repo`, `create_commit` with regular files) and download (`hf_hub_download`) call.

Point huggingface_hub at it with `HF_ENDPOINT=<base url>`. Commits are kept in memory: each has a 40-hex
id and the full file tree; branches point at commits.
"""

import base64
import hashlib
import http.server
import json
import re
import threading
from contextlib import contextmanager

_PREUPLOAD = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/preupload/(?P<rev>[^/?]+)")
_COMMIT = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/commit/(?P<rev>[^/?]+)")
_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>[^?]+)")


class LocalHub:
    def __init__(self):
        self.repos: dict[str, dict] = {}  # repo_id -> {"branches": {name: oid}, "commits": {oid: {path: bytes}}}
        self.requests: list[tuple[str, str]] = []

    def commit(self, repo_id: str, branch: str, files: dict[str, bytes], message: str) -> str:
        repo = self.repos[repo_id]
        parent = repo["branches"].get(branch)
        tree = {**repo["commits"].get(parent, {}), **files}
        oid = hashlib.sha1(json.dumps([parent, message, sorted(tree)]).encode() + b"".join(tree.values())).hexdigest()
        repo["commits"][oid] = tree
        repo["branches"][branch] = oid
        return oid

    def tree(self, repo_id: str, revision: str) -> tuple[str, dict[str, bytes]] | None:
        repo = self.repos.get(repo_id)
        if repo is None:
            return None
        oid = repo["branches"].get(revision, revision)
        return (oid, repo["commits"][oid]) if oid in repo["commits"] else None


def _handler(hub: LocalHub, base_url: list):
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _json(self, status, value):
            body = json.dumps(value).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length", 0)))

        def do_POST(self):
            hub.requests.append(("POST", self.path))
            body = self._body()
            if self.path.startswith("/api/repos/create"):
                payload = json.loads(body)
                repo_id = f"{payload['organization']}/{payload['name']}"
                hub.repos.setdefault(repo_id, {"branches": {}, "commits": {}})
                return self._json(200, {"url": f"{base_url[0]}/{repo_id}"})
            if match := _PREUPLOAD.match(self.path):
                if match["repo"] not in hub.repos:
                    return self._json(404, {"error": "Repository not found"})
                files = json.loads(body)["files"]
                modes = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]
                return self._json(200, {"files": modes})
            if match := _COMMIT.match(self.path):
                if match["repo"] not in hub.repos:
                    return self._json(404, {"error": "Repository not found"})
                lines = [json.loads(line) for line in body.splitlines() if line.strip()]
                header = next(line["value"] for line in lines if line["key"] == "header")
                files = {
                    line["value"]["path"]: base64.b64decode(line["value"]["content"])
                    for line in lines
                    if line["key"] == "file"
                }
                oid = hub.commit(match["repo"], match["rev"], files, header["summary"])
                return self._json(200, {"commitUrl": f"{base_url[0]}/{match['repo']}/commit/{oid}", "commitOid": oid})
            return self._json(404, {"error": f"no such endpoint {self.path}"})

        def _resolve(self, send_body: bool):
            hub.requests.append((self.command, self.path))
            match = _RESOLVE.match(self.path)
            found = hub.tree(match["repo"], match["rev"]) if match else None
            if found is None or match["path"] not in found[1]:
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound" if found else "RepoNotFound")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            oid, tree = found
            data = tree[match["path"]]
            self.send_response(200)
            self.send_header("X-Repo-Commit", oid)
            self.send_header("ETag", f'"{hashlib.sha1(data).hexdigest()}"')
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if send_body:
                self.wfile.write(data)

        def do_HEAD(self):
            self._resolve(send_body=False)

        def do_GET(self):
            self._resolve(send_body=True)

    return Handler


@contextmanager
def local_hub():
    """Yield `(base_url, hub)` while the stand-in Hub serves on 127.0.0.1."""
    hub, base_url = LocalHub(), [""]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub, base_url))
    base_url[0] = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base_url[0], hub
    finally:
        server.shutdown()
        server.server_close()
