"""A protocol-level Microsoft Graph test server (tests' equipment, never shipped as a mode of the
product). It answers, over real HTTP, the documented request and response shapes of the Microsoft
Graph v1.0 mail API (and the identity platform's client-credentials token endpoint), as Microsoft's
own SDK (msgraph-sdk) sends and reads them as well as our adapter:

- URL forms: `users/{id}` or `users('{id}')`, segments in any case, `delta`, `delta()` and
  `microsoft.graph.delta()`, well-known folder names (`inbox`, `SentItems`, `drafts`...);
- `$select` honoured, `@odata.context` / `@odata.etag` / `@odata.type` / `@odata.nextLink` /
  `@odata.deltaLink` annotations, `Prefer: odata.maxpagesize`;
- action bodies read whatever the casing of their keys (`destinationId`, `DestinationId`);
- mail folders and child folders (409 ErrorFolderExists for a name already there), messages, MIME
  (`$value`), move, delete, delta per folder; sending (graphsim_outgoing.py): sendMail as MIME or
  JSON, drafts, attachments, upload sessions, and the 4 MB limit on a request (413).

Every request it cannot handle gets a JSON error, never a dropped connection. Faults on demand:
throttling (429 + Retry-After, in seconds or as an HTTP date), 503, expired tokens (401), expired
delta links (410 with Location, or 400 syncStateNotFound), a folder listing not caught up, dropped
connections, and sends or uploads whose answer is lost.
"""

from __future__ import annotations

import json
import re
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from email import message_from_bytes
from email.utils import getaddresses
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, quote, unquote, urlsplit

from tests.graphsim_outgoing import Outgoing, UploadSession, drop_connection, error, lowered
from tests.identitysim import IdentityPlatform, serve
from tests.identitysim import send_bytes as _send_bytes
from tests.identitysim import send_json as _send

PAGE = 10  # delta's page size unless the client asks (Prefer: odata.maxpagesize)
WELL_KNOWN = {"inbox": "Inbox", "sentitems": "Sent Items", "drafts": "Drafts",
              "deleteditems": "Deleted Items"}
ROOT = "msgfolderroot"


@dataclass
class Message:
    id: str
    folder: str
    mime: bytes
    internet_message_id: str
    received: float = field(default_factory=time.time)  # receivedDateTime, seconds since the epoch
    attachments: list[tuple[str, str, bytes]] = field(default_factory=list)  # a draft's, added by Graph


@dataclass
class Faults:
    throttle: int = 0
    retry_after: str = "1"  # seconds, or an HTTP date
    unavailable: int = 0
    drop: int = 0
    expire_tokens: bool = False
    lose_send_answer: int = 0  # carry out this many sends (sendMail or a draft's send), then drop unanswered
    lose_upload_answer: int = 0  # store this many upload ranges, then drop the connection unanswered
    expiry_status: int = 410  # how an expired delta link is answered: 410 (with Location) or 400
    stale_folder_listing: int = 0  # this many filtered folder listings miss what exists


@dataclass
class Call:
    """One request, as the route handlers see it."""

    h: BaseHTTPRequestHandler
    method: str
    query: dict[str, str]
    body: bytes
    base: str  # .../v1.0/users/{mailbox}
    root: str  # http://host:port, as the client addressed us

    def json(self) -> dict[str, Any]:
        value = json.loads(self.body or b"{}")
        if not isinstance(value, dict):
            raise ValueError("the body is not a JSON object")
        return lowered(value)

    @property
    def content_type(self) -> str:
        return self.h.headers.get("Content-Type", "").split(";")[0].strip().lower()

    def page_size(self, default: int) -> int:
        found = re.search(r"odata\.maxpagesize=(\d+)", self.h.headers.get("Prefer", ""))
        return int(found.group(1)) if found else default


@dataclass
class GraphSim(Outgoing):
    mailbox: str
    tenant: str = "tenant-1"
    client_id: str = "app-1"
    secret: str = "s3cret"
    messages: dict[str, Message] = field(default_factory=dict)
    folders: dict[str, str] = field(default_factory=lambda: dict(WELL_KNOWN))  # key -> displayName
    parents: dict[str, str] = field(default_factory=dict)  # key -> parent key (ROOT when absent)
    events: list[tuple[int, str, str, str]] = field(default_factory=list)  # (seq, id, folder, add|remove)
    min_token: int = 0
    refused_delta_links: int = 0
    outbound: list[tuple[list[str], bytes]] = field(default_factory=list)
    uploads: dict[str, UploadSession] = field(default_factory=dict)
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
            mid = new_id()
            header = message_from_bytes(mime[:65536]).get("Message-ID", f"<{mid}@sim>")
            self.messages[mid] = Message(mid, "inbox", mime, str(header).strip(),
                                         time.time() if received is None else received)
            self._event(mid, "inbox", "add")
            return mid

    def in_folder(self, name: str) -> list[Message]:
        folder = next((k for k, v in self.folders.items() if v == name or k == name), name)
        return [m for m in self.messages.values() if m.folder == folder]

    def sent_to(self, address: str) -> list[bytes]:
        return [mime for to, mime in self.outbound if address.lower() in to]

    def expire_delta_links(self) -> None:
        self.min_token = len(self.events) + 1

    def _event(self, mid: str, folder: str, kind: str) -> None:
        self.events.append((len(self.events) + 1, mid, folder, kind))

    # -- the server -----------------------------------------------------------------------------
    def start(self) -> ThreadingHTTPServer:
        server, self.url = serve(self._handle)
        return server

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(h.path)
        path = re.sub(r"\('([^']*)'\)", r"/\1", unquote(parts.path))  # users('x') is users/x
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        with self.lock:
            self.requests.append((method, path))
            if self.faults.drop:
                self.faults.drop -= 1
                return drop_connection(h)
        if path.endswith("/oauth2/v2.0/token"):
            return self.identity.answer(h, path, body)
        root = f"http://{h.headers.get('Host') or self.url.removeprefix('http://')}"
        if m := re.fullmatch(r"/upload/([^/]+)", path):  # pre-authenticated: no bearer token here
            with self.lock:
                return self._guarded(h, lambda: self._upload(h, method, m.group(1), query, body, root))
        if refusal := self._refusal(h):
            return refusal()
        m = re.fullmatch(r"/v1\.0/users/([^/]+)(/.*)?", path, re.IGNORECASE)
        if not m:
            return _send(h, 400, error("BadRequest", f"Not simulated: {method} {path}"))
        if m.group(1).lower() != self.mailbox.lower():
            return _send(h, 404, error("ErrorInvalidUser", "The requested user is invalid."))
        if self.denied:
            return _send(h, 403, error("ErrorAccessDenied", "Access to OData is disabled: [RAOP] : Blocked "
                                       "by tenant configured AppOnly AccessPolicy settings."))
        call = Call(h, method, query, body, f"{root}/v1.0/users/{quote(self.mailbox)}", root)
        with self.lock:
            return self._guarded(h, lambda: self._route(call, m.group(2) or "/"))

    def _refusal(self, h: BaseHTTPRequestHandler) -> Any:
        """A fault or a bad token to answer with instead, as a callable, or None."""
        auth = h.headers.get("Authorization", "")
        if not self.identity.valid(auth) or self.faults.expire_tokens:
            self.faults.expire_tokens = False
            self.identity.tokens.pop(auth.removeprefix("Bearer "), None)
            return lambda: _send(h, 401, error("InvalidAuthenticationToken",
                                               "Access token has expired or is not yet valid."))
        if self.faults.throttle:
            self.faults.throttle -= 1
            wait = {"Retry-After": self.faults.retry_after}
            return lambda: _send(h, 429, error("TooManyRequests", "Application is over its "
                                               "MailboxConcurrency limit."), wait)
        if self.faults.unavailable:
            self.faults.unavailable -= 1
            return lambda: _send(h, 503, error("ServiceUnavailable", "Service unavailable"),
                                 {"Retry-After": "1"})
        return None

    def _guarded(self, h: BaseHTTPRequestHandler, answer: Any) -> None:
        """Every request gets an answer: one the simulator cannot read is a JSON error, not a crash."""
        try:
            return answer()
        except (KeyError, ValueError, TypeError, AttributeError, IndexError) as exc:
            return _send(h, 400, error("BadRequest", f"Unable to read the request: {exc!r}"))
        except Exception:  # noqa: BLE001 - a test server answers, whatever went wrong
            return _send(h, 500, error("InternalServerError", traceback.format_exc(limit=3)))

    ROUTES: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("GET", r"/mailfolders", "_list_folders"),
        ("POST", r"/mailfolders", "_create_folder"),
        ("GET", r"/mailfolders/([^/]+)/childfolders", "_list_folders"),
        ("POST", r"/mailfolders/([^/]+)/childfolders", "_create_folder"),
        ("GET", r"/mailfolders/([^/]+)/messages/(?:microsoft\.graph\.)?delta(?:\(\))?", "_delta"),
        ("GET", r"/mailfolders/([^/]+)/messages", "_list_messages"),
        ("GET", r"/mailfolders/([^/]+)", "_get_folder"),
        ("GET", r"/messages/([^/]+)/\$value", "_mime"),
        ("POST", r"/messages/([^/]+)/(?:microsoft\.graph\.)?move", "_move"),
        ("POST", r"/messages/([^/]+)/(?:microsoft\.graph\.)?send", "_send_draft"),
        ("POST", r"/messages/([^/]+)/attachments/(?:microsoft\.graph\.)?createuploadsession",
         "_create_upload_session"),
        ("POST", r"/messages/([^/]+)/attachments", "_add_attachment"),
        ("GET", r"/messages/([^/]+)", "_get_message"),
        ("DELETE", r"/messages/([^/]+)", "_delete_message"),
        ("POST", r"/messages", "_create_draft"),
        ("POST", r"/(?:microsoft\.graph\.)?sendmail", "_send_mail"),
    )

    def _route(self, c: Call, rest: str) -> None:
        known = False
        for method, pattern, handler in self.ROUTES:
            if m := re.fullmatch(pattern, rest.rstrip("/") or "/", re.IGNORECASE):
                known = True
                if method == c.method:
                    return getattr(self, handler)(c, *m.groups())
        if known:
            return _send(c.h, 405, error("ErrorInvalidRequest", f"{c.method} is not allowed on {rest}"))
        return _send(c.h, 400, error("BadRequest", f"Resource not found for the segment '{rest}'."))

    def _context(self, c: Call, tail: str) -> str:
        return f"{c.root}/v1.0/$metadata#users('{self.mailbox}'){tail}"

    # -- folders --------------------------------------------------------------------------------
    def _folder(self, ref: str) -> str | None:
        ref = ref.removeprefix("folder-")
        key = ref.lower() if ref.lower() in (*WELL_KNOWN, ROOT) else ref
        return key if key in self.folders or key == ROOT else None

    def _folder_json(self, key: str) -> dict[str, object]:
        return {"id": f"folder-{key}", "displayName": self.folders[key],
                "parentFolderId": f"folder-{self.parents.get(key, ROOT)}",
                "childFolderCount": sum(1 for k in self.folders if self.parents.get(k, ROOT) == key),
                "unreadItemCount": 0, "isHidden": False,
                "totalItemCount": sum(1 for x in self.messages.values() if x.folder == key)}

    def _list_folders(self, c: Call, parent: str = ROOT) -> None:
        under = self._folder(parent)
        if under is None:
            return not_found(c)
        name = re.search(r"displayName eq '(.*)'", c.query.get("$filter", ""))
        wanted = name.group(1).replace("''", "'") if name else None
        found = [self._folder_json(k) for k, v in self.folders.items()
                 if self.parents.get(k, ROOT) == under and wanted in (None, v)]
        if name and self.faults.stale_folder_listing:
            self.faults.stale_folder_listing -= 1
            found = []
        return _send(c.h, 200, {"@odata.context": self._context(c, "/mailFolders"),
                                "value": [select(f, c.query) for f in found]})

    def _create_folder(self, c: Call, parent: str = ROOT) -> None:
        under, name = self._folder(parent), str(c.json()["displayname"])
        if under is None:
            return not_found(c)
        if any(v.lower() == name.lower() and self.parents.get(k, ROOT) == under
               for k, v in self.folders.items()):
            return _send(c.h, 409, error("ErrorFolderExists",
                                         "A folder with the specified name already exists."))
        key = uuid.uuid4().hex[:12]
        self.folders[key], self.parents[key] = name, under
        return _send(c.h, 201, {"@odata.context": self._context(c, "/mailFolders/$entity"),
                                **self._folder_json(key)})

    def _get_folder(self, c: Call, ref: str) -> None:
        key = self._folder(ref)
        if key is None or key == ROOT:
            return not_found(c)
        return _send(c.h, 200, {"@odata.context": self._context(c, "/mailFolders/$entity"),
                                **select(self._folder_json(key), c.query)})

    # -- messages -------------------------------------------------------------------------------
    def _json_message(self, msg: Message) -> dict[str, object]:
        head = message_from_bytes(msg.mime[:65536])
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(msg.received))  # Graph: ISO 8601, UTC
        people = [{"emailAddress": {"name": n, "address": a}}
                  for n, a in getaddresses(head.get_all("To", []))]
        sender = getaddresses(head.get_all("From", []))
        return {"@odata.etag": f'W/"{msg.id[-8:]}"', "id": msg.id, "createdDateTime": when,
                "lastModifiedDateTime": when, "receivedDateTime": when, "sentDateTime": when,
                "hasAttachments": bool(msg.attachments) or "multipart/mixed" in head.get_content_type(),
                "internetMessageId": msg.internet_message_id, "subject": str(head.get("Subject", "")),
                "importance": "normal", "parentFolderId": f"folder-{msg.folder}", "isRead": False,
                "isDraft": msg.folder == "drafts", "toRecipients": people,
                "from": {"emailAddress": {"name": sender[0][0], "address": sender[0][1]}} if sender else None}

    def _list_messages(self, c: Call, ref: str) -> None:
        key = self._folder(ref)
        if key is None:
            return not_found(c)
        items = [x for x in self.messages.values() if x.folder == key]
        if f := re.search(r"internetMessageId eq '(.*)'", c.query.get("$filter", "")):
            items = [x for x in items if x.internet_message_id == f.group(1).replace("''", "'")]
        skip, top = int(c.query.get("$skip", 0)), int(c.query.get("$top", 10))
        page: dict[str, object] = {
            "@odata.context": self._context(c, f"/mailFolders('{key}')/messages"),
            "value": [select(self._json_message(x), c.query) for x in items[skip:skip + top]]}
        if skip + top < len(items):
            chosen = f"$select={c.query['$select']}&" if "$select" in c.query else ""
            page["@odata.nextLink"] = (f"{c.base}/mailFolders/{ref}/messages?{chosen}$top={top}"
                                       f"&$skip={skip + top}")
        return _send(c.h, 200, page)

    def _get_message(self, c: Call, mid: str) -> None:
        msg = self.messages.get(mid)
        if msg is None:
            return not_found(c)
        return _send(c.h, 200, {"@odata.context": self._context(c, "/messages/$entity"),
                                **select(self._json_message(msg), c.query)})

    def _mime(self, c: Call, mid: str) -> None:
        msg = self.messages.get(mid)
        return _send_bytes(c.h, 200, msg.mime, "message/rfc822") if msg else not_found(c)

    def _move(self, c: Call, mid: str) -> None:
        msg, target = self.messages.get(mid), self._folder(str(c.json()["destinationid"]))
        if msg is None or target is None or target == ROOT:
            return not_found(c)
        if target != msg.folder:
            self._event(msg.id, msg.folder, "remove")
            self._event(msg.id, target, "add")
        msg.folder = target
        return _send(c.h, 201, {"@odata.context": self._context(c, "/messages/$entity"),
                                **self._json_message(msg)})

    def _delete_message(self, c: Call, mid: str) -> None:
        msg = self.messages.pop(mid, None)
        if msg is None:
            return not_found(c)
        self._event(mid, msg.folder, "remove")
        for sid in [k for k, session in self.uploads.items() if session.message_id == mid]:
            del self.uploads[sid]  # a deleted draft's upload sessions go with it
        return _send_bytes(c.h, 204, b"", "application/json")

    # -- delta ----------------------------------------------------------------------------------
    def _delta(self, c: Call, ref: str) -> None:
        key = self._folder(ref)
        if key is None or key == ROOT:
            return not_found(c)
        link = f"{c.base}/mailFolders/{key}/messages/delta"
        chosen = f"&$select={c.query['$select']}" if "$select" in c.query else ""
        now = len(self.events)
        if "$deltatoken" in c.query:
            token = int(c.query["$deltatoken"])
            if token < self.min_token:
                return self._expired(c, link)
            return _send(c.h, 200, {"@odata.context": f"{c.root}/v1.0/$metadata#Collection(message)",
                                    "value": self._changes(key, token, c.query),
                                    "@odata.deltaLink": f"{link}?$deltatoken={now}{chosen}"})
        skip = c.query.get("$skiptoken")
        offset, final = (int(x) for x in skip.split("-")) if skip else (0, now)
        size = c.page_size(PAGE)
        held = [m for m in self.messages.values() if m.folder == key][offset:offset + size]
        page: dict[str, object] = {"@odata.context": f"{c.root}/v1.0/$metadata#Collection(message)",
                                   "value": [self._delta_item(m, c.query) for m in held]}
        if offset + size < sum(1 for m in self.messages.values() if m.folder == key):
            page["@odata.nextLink"] = f"{link}?$skiptoken={offset + size}-{final}{chosen}"
        else:
            page["@odata.deltaLink"] = f"{link}?$deltatoken={final}{chosen}"
        return _send(c.h, 200, page)

    def _expired(self, c: Call, link: str) -> None:
        self.refused_delta_links += 1
        if self.faults.expiry_status == 410:  # a reset: Location is the initial query, empty $deltatoken
            return _send(c.h, 410, error("SyncStateNotFound", "The sync state generation is not found."),
                         {"Location": f"{link}()?$deltatoken="})
        return _send(c.h, self.faults.expiry_status, error(
            "syncStateNotFound", "The sync state generation is not found. The delta token is expired and "
            "data must be synchronized again."))

    def _changes(self, key: str, token: int, query: dict[str, str]) -> list[dict[str, object]]:
        changes: dict[str, dict[str, object]] = {}
        for _seq, mid, folder, kind in self.events[token:]:
            if folder != key:
                continue
            msg = self.messages.get(mid)
            if kind == "remove" or msg is None or msg.folder != key:
                changes[mid] = {"@odata.type": "#microsoft.graph.message", "id": mid,
                                "@removed": {"reason": "deleted"}}
            else:
                changes[mid] = self._delta_item(msg, query)
        return list(changes.values())

    def _delta_item(self, msg: Message, query: dict[str, str]) -> dict[str, object]:
        return {"@odata.type": "#microsoft.graph.message", **select(self._json_message(msg), query)}


def new_id() -> str:
    return "AAkALg" + uuid.uuid4().hex  # immutable ids look like base64; these are unique


def select(entity: dict[str, object], query: dict[str, str]) -> dict[str, object]:
    """$select as Graph honours it: the properties asked for, with the id and the annotations."""
    if "$select" not in query:
        return entity
    wanted = {p.strip().lower() for p in query["$select"].split(",")} | {"id"}
    return {k: v for k, v in entity.items() if k.lower() in wanted or k.startswith("@odata.")}


def not_found(c: Call) -> None:
    return _send(c.h, 404, error("ErrorItemNotFound", "The specified object was not found in the store."))
