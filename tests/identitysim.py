"""The Microsoft identity platform's client-credentials token endpoint, as the Graph and EWS test
servers both answer it (`POST /{tenant}/oauth2/v2.0/token`), with the documented error shapes for a
wrong tenant and a wrong client secret. Tests' equipment."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


@dataclass
class IdentityPlatform:
    tenant: str = "tenant-1"
    client_id: str = "app-1"
    secret: str = "s3cret"
    lifetime: int = 3599  # seconds a token lives
    tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (monotonic)
    issued: int = 0

    def answer(self, h: BaseHTTPRequestHandler, path: str, body: bytes) -> None:
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        basic = h.headers.get("Authorization", "")
        if basic.startswith("Basic "):  # requests-oauthlib may send the client credentials this way
            import base64
            cid, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
            form.setdefault("client_id", cid)
            form.setdefault("client_secret", secret)
        tenant = path.split("/")[1]
        if tenant != self.tenant:
            return send_json(h, 400, {"error": "invalid_request",
                                      "error_description": f"AADSTS90002: Tenant '{tenant}' not found."})
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.secret:
            return send_json(h, 401, {"error": "invalid_client",
                                      "error_description": "AADSTS7000215: Invalid client secret provided."})
        token = "eyJ0" + uuid.uuid4().hex
        self.tokens[token] = time.monotonic() + self.lifetime
        self.issued += 1
        return send_json(h, 200, {"token_type": "Bearer", "expires_in": self.lifetime,
                                  "ext_expires_in": self.lifetime, "access_token": token})

    def valid(self, authorization: str) -> bool:
        expires = self.tokens.get(authorization.removeprefix("Bearer "))
        return expires is not None and time.monotonic() < expires

    def revoke_all(self) -> None:
        self.tokens.clear()


def send_json(h: BaseHTTPRequestHandler, status: int, payload: object,
              headers: dict[str, str] | None = None) -> None:
    data = b"" if payload is None else json.dumps(payload).encode()
    send_bytes(h, status, data, "application/json", headers)


def send_bytes(h: BaseHTTPRequestHandler, status: int, data: bytes, kind: str,
               headers: dict[str, str] | None = None) -> None:
    h.send_response(status)
    h.send_header("Content-Type", kind)
    h.send_header("Content-Length", str(len(data)))
    for k, v in (headers or {}).items():
        h.send_header(k, v)
    h.end_headers()
    h.wfile.write(data)


def serve(handle: Callable[[BaseHTTPRequestHandler, str], None]) -> tuple[ThreadingHTTPServer, str]:
    """An HTTP/1.1 server on a free loopback port, calling handle(request, method) for each method."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            handle(self, "GET")

        def do_POST(self) -> None:
            handle(self, "POST")

        def do_PUT(self) -> None:
            handle(self, "PUT")

        def do_PATCH(self) -> None:
            handle(self, "PATCH")

        def do_DELETE(self) -> None:
            handle(self, "DELETE")

        def do_OPTIONS(self) -> None:
            handle(self, "OPTIONS")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"
