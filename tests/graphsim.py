"""A protocol-level Microsoft Graph test server (tests' equipment, never shipped as a mode of the
product). It answers, over real HTTP, the documented request and response shapes of the operations
the Graph adapter uses (Microsoft Graph v1.0 mail API and the identity platform's
client-credentials token endpoint), and injects throttling (429 + Retry-After), 503, expired
tokens (401), expired delta links (410) and dropped connections.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from email import message_from_bytes
from email.utils import getaddresses
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from tests.identitysim import IdentityPlatform, serve
from tests.identitysim import send_bytes as _send_bytes
from tests.identitysim import send_json as _send

PAGE = 10


@dataclass
class Message:
    id: str
    folder: str
    mime: bytes
    internet_message_id: str
    received: float = field(default_factory=time.time)  # receivedDateTime, seconds since the epoch


@dataclass
class Faults:
    throttle: int = 0
    retry_after: str = "1"
    unavailable: int = 0
    drop: int = 0
    expire_tokens: bool = False
    lose_send_answer: int = 0  # carry out this many sendMail requests, then drop the connection unanswered


@dataclass
class GraphSim:
    mailbox: str
    tenant: str = "tenant-1"
    client_id: str = "app-1"
    secret: str = "s3cret"
    messages: dict[str, Message] = field(default_factory=dict)
    folders: dict[str, str] = field(default_factory=lambda: {"inbox": "Inbox", "sentitems": "Sent Items"})
    events: list[tuple[int, str, str]] = field(default_factory=list)  # (seq, message id, "add" | "remove")
    min_token: int = 0
    outbound: list[tuple[list[str], bytes]] = field(default_factory=list)
    faults: Faults = field(default_factory=Faults)
    requests: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""
    denied: bool = False  # an application access policy that leaves this mailbox out

    def __post_init__(self) -> None:
        self.identity = IdentityPlatform(self.tenant, self.client_id, self.secret)

    # -- what tests call ------------------------------------------------------------------------
    def deliver(self, mime: bytes, received: float | None = None) -> str:
        """Into the inbox, received now or at `received` (seconds since the epoch)."""
        with self.lock:
            mid = "AAkALg" + uuid.uuid4().hex  # immutable ids look like base64; these are unique
            header = message_from_bytes(mime[:65536]).get("Message-ID", f"<{mid}@sim>")
            self.messages[mid] = Message(mid, "inbox", mime, str(header).strip(),
                                         time.time() if received is None else received)
            self._event(mid, "add")
            return mid

    def in_folder(self, name: str) -> list[Message]:
        folder = next((k for k, v in self.folders.items() if v == name or k == name), name)
        return [m for m in self.messages.values() if m.folder == folder]

    def sent_to(self, address: str) -> list[bytes]:
        return [mime for to, mime in self.outbound if address.lower() in to]

    def expire_delta_links(self) -> None:
        self.min_token = len(self.events) + 1

    def _event(self, mid: str, kind: str) -> None:
        self.events.append((len(self.events) + 1, mid, kind))

    # -- the server -----------------------------------------------------------------------------
    def start(self) -> ThreadingHTTPServer:
        server, self.url = serve(self._handle)
        return server

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(h.path)
        path, query = unquote(parts.path), {k: v[0] for k, v in parse_qs(parts.query).items()}
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        with self.lock:
            self.requests.append((method, path))
            if self.faults.drop:
                self.faults.drop -= 1
                h.close_connection = True
                h.connection.shutdown(2)
                return
        if path.endswith("/oauth2/v2.0/token"):
            return self.identity.answer(h, path, body)
        auth = h.headers.get("Authorization", "")
        if not self.identity.valid(auth) or self.faults.expire_tokens:
            self.faults.expire_tokens = False
            self.identity.tokens.pop(auth.removeprefix("Bearer "), None)
            return _send(h, 401, {"error": {"code": "InvalidAuthenticationToken",
                                            "message": "Access token has expired or is not yet valid."}})
        if self.faults.throttle:
            self.faults.throttle -= 1
            return _send(h, 429, {"error": {"code": "TooManyRequests", "message": "Application is over its "
                                            "MailboxConcurrency limit."}},
                         {"Retry-After": self.faults.retry_after})
        if self.faults.unavailable:
            self.faults.unavailable -= 1
            return _send(h, 503, {"error": {"code": "ServiceUnavailable", "message": "Service unavailable"}},
                         {"Retry-After": "1"})
        m = re.match(r"^/v1\.0/users/([^/]+)(/.*)$", path)
        if not m or m.group(1).lower() != self.mailbox.lower():
            return _send(h, 404, {"error": {"code": "ErrorInvalidUser",
                                            "message": "The requested user is invalid."}})
        if self.denied:
            return _send(h, 403, {"error": {"code": "ErrorAccessDenied",
                                            "message": "Access to OData is disabled: [RAOP] : Blocked by "
                                                       "tenant configured AppOnly AccessPolicy settings."}})
        with self.lock:
            return self._graph(h, method, m.group(2), query, body)

    def _folder(self, ref: str) -> str | None:
        ref = ref.lower() if ref.lower() in ("inbox", "sentitems") else ref
        return ref if ref in self.folders else None

    def _json_message(self, msg: Message) -> dict[str, object]:
        # receivedDateTime as Graph gives it: ISO 8601, always UTC ("2026-11-23T10:30:00Z")
        return {"id": msg.id, "parentFolderId": f"folder-{msg.folder}",
                "internetMessageId": msg.internet_message_id,
                "receivedDateTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(msg.received))}

    def _graph(self, h: BaseHTTPRequestHandler, method: str, rest: str, q: dict[str, str],
               body: bytes) -> None:
        base = f"{self.url}/v1.0/users/{self.mailbox}"
        if rest == "/mailFolders" and method == "GET":
            name = re.search(r"displayName eq '(.*)'", q.get("$filter", ""))
            found = [{"id": f"folder-{k}", "displayName": v} for k, v in self.folders.items()
                     if not name or v == name.group(1)]
            return _send(h, 200, {"value": found})
        if rest == "/mailFolders" and method == "POST":
            name = json.loads(body)["displayName"]
            key = uuid.uuid4().hex[:12]
            self.folders[key] = name
            return _send(h, 201, {"id": f"folder-{key}", "displayName": name})
        if m := re.fullmatch(r"/mailFolders/([^/]+)", rest):
            key = self._folder(m.group(1).removeprefix("folder-"))
            if key is None:
                return _send(h, 404, {"error": {"code": "ErrorItemNotFound", "message": "not found"}})
            count = sum(1 for x in self.messages.values() if x.folder == key)
            return _send(h, 200, {"id": f"folder-{key}", "displayName": self.folders[key],
                                  "totalItemCount": count})
        if rest == "/mailFolders/inbox/messages/delta":
            return self._delta(h, q, base)
        if m := re.fullmatch(r"/mailFolders/([^/]+)/messages", rest):
            key = self._folder(m.group(1).removeprefix("folder-"))
            items = [x for x in self.messages.values() if x.folder == key]
            if f := re.search(r"internetMessageId eq '(.*)'", q.get("$filter", "")):
                items = [x for x in items if x.internet_message_id == f.group(1).replace("''", "'")]
            skip, top = int(q.get("$skip", 0)), int(q.get("$top", 10))
            page = {"value": [self._json_message(x) for x in items[skip:skip + top]]}
            if skip + top < len(items):
                select = q.get("$select", "internetMessageId")
                page["@odata.nextLink"] = f"{base}{rest}?$select={select}&$top={top}&$skip={skip + top}"
            return _send(h, 200, page)
        if (m := re.fullmatch(r"/messages/([^/]+)", rest)) and method == "DELETE":
            gone = self.messages.pop(m.group(1), None)
            if gone is not None and gone.folder == "inbox":
                self._event(gone.id, "remove")
            return _send(h, 204, None) if gone else _send(
                h, 404, {"error": {"code": "ErrorItemNotFound", "message": "The object was not found."}})
        if m := re.fullmatch(r"/messages/([^/]+)", rest):
            msg = self.messages.get(m.group(1))
            return _send(h, 200, self._json_message(msg)) if msg else _send(
                h, 404, {"error": {"code": "ErrorItemNotFound",
                                   "message": "The specified object was not found."}})
        if m := re.fullmatch(r"/messages/([^/]+)/\$value", rest):
            msg = self.messages.get(m.group(1))
            if msg is None:
                return _send(h, 404, {"error": {"code": "ErrorItemNotFound", "message": "not found"}})
            return _send_bytes(h, 200, msg.mime, "message/rfc822")
        if (m := re.fullmatch(r"/messages/([^/]+)/move", rest)) and method == "POST":
            msg = self.messages.get(m.group(1))
            target = self._folder(json.loads(body)["destinationId"].removeprefix("folder-"))
            if msg is None or target is None:
                return _send(h, 404, {"error": {"code": "ErrorItemNotFound", "message": "not found"}})
            if msg.folder == "inbox" and target != "inbox":
                self._event(msg.id, "remove")
            msg.folder = target
            return _send(h, 201, self._json_message(msg))
        if rest == "/sendMail" and method == "POST":
            if h.headers.get("Content-Type", "").split(";")[0] != "text/plain":
                return _send(h, 400, {"error": {"code": "ErrorMimeContentInvalid",
                                                "message": "expected MIME"}})
            mime = base64.b64decode(body)
            parsed = message_from_bytes(mime)
            to = [a.lower() for _, a in getaddresses(parsed.get_all("To", []) + parsed.get_all("Cc", []))]
            self.outbound.append((to, mime))
            sid = "AAkALg" + uuid.uuid4().hex
            self.messages[sid] = Message(sid, "sentitems", mime, str(parsed.get("Message-ID", "")).strip())
            if self.faults.lose_send_answer:
                self.faults.lose_send_answer -= 1
                h.close_connection = True
                h.connection.shutdown(2)
                return None
            return _send(h, 202, None)
        return _send(h, 400, {"error": {"code": "BadRequest", "message": f"not simulated: {method} {rest}"}})

    def _delta(self, h: BaseHTTPRequestHandler, q: dict[str, str], base: str) -> None:
        link = f"{base}/mailFolders/inbox/messages/delta"
        now = len(self.events)
        if "$deltatoken" in q:
            token = int(q["$deltatoken"])
            if token < self.min_token:
                return _send(h, 410, {"error": {"code": "SyncStateNotFound", "message": "The sync state "
                                                "generation is expired. Start a fresh sync."}})
            changes: dict[str, dict[str, object]] = {}
            for _seq, mid, kind in self.events[token:]:
                msg = self.messages.get(mid)
                if kind == "remove" or msg is None or msg.folder != "inbox":
                    changes[mid] = {"id": mid, "@removed": {"reason": "deleted"}}
                else:
                    changes[mid] = {"id": mid}
            return _send(h, 200, {"value": list(changes.values()),
                                  "@odata.deltaLink": f"{link}?$deltatoken={now}"})
        offset, final = (int(x) for x in q["$skiptoken"].split("-")) if "$skiptoken" in q else (0, now)
        inbox = [m for m in self.messages.values() if m.folder == "inbox"]
        page = {"value": [{"id": m.id} for m in inbox[offset:offset + PAGE]]}
        if offset + PAGE < len(inbox):
            page["@odata.nextLink"] = f"{link}?$skiptoken={offset + PAGE}-{final}"
        else:
            page["@odata.deltaLink"] = f"{link}?$deltatoken={final}"
        return _send(h, 200, page)
