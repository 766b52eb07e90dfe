"""The sending half of the Graph test server (tests/graphsim.py): sendMail with the message as MIME
(base64, Content-Type text/plain) or as JSON; drafts (MIME or JSON), file attachments and upload
sessions for large ones, and a draft's send. Microsoft Graph takes at most 4 MB in a request: a
larger one gets 413. Upload ranges go, in order, to a pre-authenticated URL that wants no
Authorization header; each is at most 4 MB and, but for the last, a multiple of 320 KiB; the last
answers 201 with the attachment's Location."""

from __future__ import annotations

import base64
import re
import time
import uuid
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, make_msgid
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from tests.identitysim import send_bytes as _send_bytes
from tests.identitysim import send_json as _send

if TYPE_CHECKING:
    from tests.graphsim import Call, GraphSim, Message

REQUEST_LIMIT = 4 * 1024 * 1024
FRAGMENT = 320 * 1024


@dataclass
class UploadSession:
    message_id: str
    name: str
    content_type: str
    size: int
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    data: bytearray = field(default_factory=bytearray)


class Outgoing:
    def _too_large(self, c: Call) -> bool:
        if len(c.body) <= REQUEST_LIMIT:
            return False
        _send(c.h, 413, error("RequestBodyTooLarge", "The maximum request length supported is 4MB."))
        return True

    def _message_from(self: GraphSim, c: Call) -> tuple[bytes, list[str]]:
        """The MIME and the recipients of a sendMail or draft body, MIME or JSON."""
        if c.content_type == "text/plain":
            mime = base64.b64decode(c.body, validate=True)
            head = message_from_bytes(mime)
            return mime, [a.lower() for _, a in getaddresses(head.get_all("To", []) + head.get_all("Cc", []))]
        if c.content_type != "application/json":
            raise ValueError(f"Content-Type {c.content_type!r}: expected text/plain (MIME) or JSON")
        body = c.json()
        return mime_from_json(body.get("message", body), self.mailbox)

    def _send_mail(self: GraphSim, c: Call) -> None:
        if self._too_large(c):
            return None
        mime, recipients = self._message_from(c)
        save = c.content_type == "text/plain" or c.json().get("savetosentitems", True) is not False
        self._sent(new_message(mime, "sentitems"), recipients, save)
        return self._answer_send(c)

    def _create_draft(self: GraphSim, c: Call) -> None:
        if self._too_large(c):
            return None
        mime, _ = self._message_from(c)
        msg = new_message(mime, "drafts")
        self.messages[msg.id] = msg
        self._event(msg.id, "drafts", "add")
        return _send(c.h, 201, {"@odata.context": self._context(c, "/messages/$entity"),
                                **self._json_message(msg)})

    def _draft(self: GraphSim, c: Call, mid: str) -> Message | None:
        msg = self.messages.get(mid)
        if msg is None:
            _send(c.h, 404, error("ErrorItemNotFound", "The specified object was not found in the store."))
        elif msg.folder != "drafts":
            _send(c.h, 400, error("ErrorInvalidOperation", "Only a draft can be changed or sent."))
            return None
        return msg

    def _add_attachment(self: GraphSim, c: Call, mid: str) -> None:
        if self._too_large(c) or (msg := self._draft(c, mid)) is None:
            return None
        body = c.json()
        data = base64.b64decode(body["contentbytes"], validate=True)
        kind = str(body.get("contenttype") or "application/octet-stream")
        msg.attachments.append((str(body["name"]), kind, data))
        return _send(c.h, 201, {"@odata.type": "#microsoft.graph.fileAttachment", "id": uuid.uuid4().hex,
                                "name": body["name"], "size": len(data), "isInline": False})

    def _create_upload_session(self: GraphSim, c: Call, mid: str) -> None:
        if (msg := self._draft(c, mid)) is None:
            return None
        item = lowered(c.json()["attachmentitem"])
        if str(item.get("attachmenttype", "file")).lower() != "file" or int(item["size"]) <= 0:
            raise ValueError("AttachmentItem: attachmentType file and a size are required")
        sid = uuid.uuid4().hex
        kind = str(item.get("contenttype") or "application/octet-stream")
        session = self.uploads[sid] = UploadSession(msg.id, str(item["name"]), kind, int(item["size"]))
        return _send(c.h, 201, {"@odata.context": f"{c.root}/v1.0/$metadata#microsoft.graph.uploadSession",
                                "uploadUrl": f"{c.root}/upload/{sid}?authtoken={session.token}",
                                "expirationDateTime": expires(), "nextExpectedRanges": ["0-"]})

    def _upload(self: GraphSim, h: BaseHTTPRequestHandler, method: str, sid: str, query: dict[str, str],
                body: bytes, root: str) -> None:
        session = self.uploads.get(sid)
        if session is None or query.get("authtoken") != session.token:
            return _send(h, 404, error("ErrorItemNotFound", "The upload session is not found or expired."))
        if h.headers.get("Authorization"):
            return _send(h, 401, error("InvalidAuthenticationToken", "The upload URL is pre-authenticated: "
                                       "send no Authorization header."))
        if method == "DELETE":
            del self.uploads[sid]
            return _send_bytes(h, 204, b"", "application/json")
        if method != "PUT":
            return _send(h, 405, error("ErrorInvalidRequest", f"{method} is not allowed on an upload URL"))
        problem = range_problem(session, h.headers.get("Content-Range", ""), body)
        if problem:
            status, text = problem
            return _send(h, status, {**error("ErrorInvalidRequest", text),
                                     "nextExpectedRanges": [str(len(session.data))]})
        session.data += body
        if self.faults.lose_upload_answer:
            self.faults.lose_upload_answer -= 1
            self._complete(session, sid, root)
            return drop_connection(h)
        if len(session.data) < session.size:
            return _send(h, 200, {"@odata.context": f"{root}/api/v2.0/$metadata#AttachmentSessions/$entity",
                                  "expirationDateTime": expires(),
                                  "nextExpectedRanges": [str(len(session.data))]})
        location = self._complete(session, sid, root)
        return _send_bytes(h, 201, b"", "application/json", {"Location": location or ""})

    def _complete(self: GraphSim, session: UploadSession, sid: str, root: str) -> str | None:
        """Attach the file once every byte has come; the attachment's URL, or None while bytes are owed."""
        if len(session.data) < session.size:
            return None
        del self.uploads[sid]
        self.messages[session.message_id].attachments.append((session.name, session.content_type,
                                                              bytes(session.data)))
        aid = uuid.uuid4().hex
        return (f"{root}/api/v2.0/Users('{self.mailbox}')/Messages('{session.message_id}')/"
                f"Attachments('{aid}')")

    def _send_draft(self: GraphSim, c: Call, mid: str) -> None:
        if (msg := self._draft(c, mid)) is None:
            return None
        mime = with_attachments(msg.mime, msg.attachments)
        head = message_from_bytes(mime)
        recipients = [a.lower() for _, a in getaddresses(head.get_all("To", []) + head.get_all("Cc", []))]
        del self.messages[mid]
        self._event(mid, "drafts", "remove")
        msg.mime, msg.folder, msg.attachments = mime, "sentitems", []
        self._sent(msg, recipients, save=True)
        return self._answer_send(c)

    def _sent(self: GraphSim, msg: Message, recipients: list[str], save: bool) -> None:
        self.outbound.append((recipients, msg.mime))
        if save:
            self.messages[msg.id] = msg
            self._event(msg.id, "sentitems", "add")

    def _answer_send(self: GraphSim, c: Call) -> None:
        if self.faults.lose_send_answer:
            self.faults.lose_send_answer -= 1
            return drop_connection(c.h)
        return _send_bytes(c.h, 202, b"", "application/json")


def range_problem(session: UploadSession, header: str, body: bytes) -> tuple[int, str] | None:
    found = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", header.strip())
    if not found:
        return 400, "Content-Range must be 'bytes {start}-{end}/{total}'"
    start, end, total = (int(x) for x in found.groups())
    if total != session.size or end < start or end - start + 1 != len(body) or end >= total:
        return 400, "Content-Range does not match the body or the size given for the session"
    if len(body) > REQUEST_LIMIT:
        return 413, "A range is at most 4 MB"
    if start != len(session.data):
        return 416, "Bytes must be uploaded in order, from the next expected range"
    if end + 1 < total and len(body) % FRAGMENT:
        return 400, "Every range but the last must be a multiple of 320 KiB"
    return None


def new_message(mime: bytes, folder: str) -> Message:
    from tests.graphsim import Message, new_id
    head = message_from_bytes(mime[:65536])
    return Message(new_id(), folder, mime, str(head.get("Message-ID", "")).strip() or make_msgid("sim"))


def mime_from_json(message: dict[str, Any], sender: str) -> tuple[bytes, list[str]]:
    """A JSON message resource (subject, body, recipients, fileAttachments) as the MIME Exchange sends."""
    m = lowered(message)
    out = EmailMessage(policy=policy.SMTP)
    out["From"], out["Subject"], out["Message-ID"] = sender, str(m.get("subject") or ""), make_msgid("sim")
    recipients: list[str] = []
    for key, header in (("torecipients", "To"), ("ccrecipients", "Cc"), ("bccrecipients", None)):
        addresses = [str(lowered(lowered(r)["emailaddress"])["address"]) for r in m.get(key) or []]
        recipients += [a.lower() for a in addresses]
        if header and addresses:
            out[header] = ", ".join(addresses)
    body = lowered(m.get("body") or {})
    html = str(body.get("contenttype", "text")).lower() == "html"
    out.set_content(str(body.get("content") or ""), subtype="html" if html else "plain")
    for a in (lowered(x) for x in m.get("attachments") or []):
        kind = str(a.get("contenttype") or "application/octet-stream").split("/", 1)
        out.add_attachment(base64.b64decode(a["contentbytes"]), maintype=kind[0], subtype=kind[-1],
                           filename=str(a["name"]))
    return out.as_bytes(), recipients


def with_attachments(mime: bytes, files: list[tuple[str, str, bytes]]) -> bytes:
    if not files:
        return mime
    out = BytesParser(policy=policy.SMTP).parsebytes(mime)
    assert isinstance(out, EmailMessage)
    if out.get_content_type() != "multipart/mixed":
        out.make_mixed()
    for name, content_type, data in files:
        kind = content_type.split("/", 1)
        out.add_attachment(data, maintype=kind[0], subtype=kind[-1], filename=name)
    return out.as_bytes()


def lowered(value: Any) -> dict[str, Any]:
    """A JSON object's keys in lower case: Graph reads action bodies whatever their casing."""
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object")
    return {str(k).lower(): v for k, v in value.items()}


def error(code: str, message: str) -> dict[str, object]:
    inner = {"date": time.strftime("%Y-%m-%dT%H:%M:%S"), "request-id": str(uuid.uuid4()),
             "client-request-id": str(uuid.uuid4())}
    return {"error": {"code": code, "message": message, "innerError": inner}}


def expires() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 900))


def drop_connection(h: BaseHTTPRequestHandler) -> None:
    h.close_connection = True
    h.connection.shutdown(2)
