"""A protocol-level Exchange Web Services test server (tests' equipment, never shipped as a mode of
the product). Over real HTTP it answers the SOAP shapes of Microsoft's EWS reference for the
operations the EWS adapter uses: ConvertId (exchangelib's version probe), GetFolder, FindFolder,
CreateFolder, SyncFolderItems, GetItem (MimeContent), MoveItem (which gives the item a new id, as
Exchange does), CreateItem (SendAndSaveCopy) and FindItem (InternetMessageId, DateTimeReceived), with
ExchangeImpersonation and
OAuth2 bearer tokens from the identity platform's token endpoint. It injects ErrorServerBusy with
BackOffMilliseconds, HTTP 503 with Retry-After, expired tokens, sync states Exchange no longer
accepts (ErrorInvalidSyncStateData) and dropped connections.
"""

from __future__ import annotations

import base64
import threading
import time
import uuid
from dataclasses import dataclass, field
from email import message_from_bytes
from email.utils import getaddresses
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

from lxml import etree

from tests.identitysim import IdentityPlatform, send_bytes, serve

S = "http://schemas.xmlsoap.org/soap/envelope/"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
NS = {"s": S, "m": M, "t": T}
DISTINGUISHED = {"msgfolderroot": "Top of Information Store", "inbox": "Inbox", "sentitems": "Sent Items",
                 "root": "Root"}
MAX_CHANGES = 512  # Exchange's own ceiling per SyncFolderItems response


@dataclass
class Item:
    id: str
    folder: str
    mime: bytes
    internet_message_id: str
    received: float = field(default_factory=time.time)


@dataclass
class Faults:
    busy: int = 0  # answer ErrorServerBusy this many times
    back_off_ms: int = 200
    unavailable: int = 0  # answer HTTP 503 with Retry-After this many times
    drop: int = 0  # drop this many connections without answering


@dataclass
class EwsSim:
    mailbox: str
    identity: IdentityPlatform = field(default_factory=IdentityPlatform)
    items: dict[str, Item] = field(default_factory=dict)
    folders: dict[str, tuple[str, str]] = field(default_factory=lambda: {  # id -> (name, parent id)
        k: (v, "root" if k != "root" else "") for k, v in DISTINGUISHED.items()})
    events: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # folder -> [(kind, item id)]
    min_sync: int = 0  # sync states issued before this generation are refused
    generation: int = 0
    outbound: list[tuple[list[str], bytes]] = field(default_factory=list)
    faults: Faults = field(default_factory=Faults)
    # (arrival, operation, "busy" | "503" | "")
    calls: list[tuple[float, str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""
    denied: bool = False  # RBAC for applications leaves this mailbox out
    unauthorized: int = 0  # requests answered 401

    @property
    def endpoint(self) -> str:
        return f"{self.url}/EWS/Exchange.asmx"

    # -- what tests call ------------------------------------------------------------------------
    def deliver(self, mime: bytes, received: float | None = None) -> str:
        """Into the inbox, received now or at `received` (seconds since the epoch)."""
        with self.lock:
            header = message_from_bytes(mime[:65536]).get("Message-ID", "")
            item_id = self._add("inbox", mime, str(header).strip())
            if received is not None:
                self.items[item_id].received = received
            return item_id

    def sent_to(self, address: str) -> list[bytes]:
        return [mime for to, mime in self.outbound if address.lower() in to]

    def expire_sync_states(self) -> None:
        self.generation += 1
        self.min_sync = self.generation

    def waits_after(self, answer: str) -> list[float]:
        """How long the client waited after each answer of this kind before its next request."""
        return [self.calls[i + 1][0] - at for i, (at, _, kind) in enumerate(self.calls[:-1])
                if kind == answer]

    def in_folder(self, name: str) -> list[Item]:
        keys = [k for k, (n, _) in self.folders.items() if n == name or k == name]
        return [i for i in self.items.values() if i.folder in keys]

    # -- the mailbox ----------------------------------------------------------------------------
    def _add(self, folder: str, mime: bytes, internet_message_id: str) -> str:
        item_id = base64.b64encode(b"\x00\x00\x00\x00" + uuid.uuid4().bytes).decode()
        self.items[item_id] = Item(item_id, folder, mime, internet_message_id)
        self.events.setdefault(folder, []).append(("Create", item_id))
        return item_id

    def _remove(self, item_id: str) -> Item:
        item = self.items.pop(item_id)
        self.events.setdefault(item.folder, []).append(("Delete", item_id))
        return item

    # -- the server -----------------------------------------------------------------------------
    def start(self) -> ThreadingHTTPServer:
        server, self.url = serve(lambda h, method: self._handle(h))
        return server

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        path = h.path.split("?")[0]
        if path.endswith("/oauth2/v2.0/token"):
            with self.lock:
                return self.identity.answer(h, path, body)
        if path.lower() != "/ews/exchange.asmx":
            return send_bytes(h, 404, b"", "text/html")
        with self.lock:
            if self.faults.drop:
                self.faults.drop -= 1
                h.close_connection = True
                h.connection.shutdown(2)
                return
        if not self.identity.valid(h.headers.get("Authorization", "")):
            self.unauthorized += 1
            return send_bytes(h, 401, b"", "text/html", {"WWW-Authenticate": 'Bearer realm=""'})
        envelope = etree.fromstring(body)
        request = envelope.find("s:Body", NS)[0]
        operation = etree.QName(request).localname
        with self.lock:
            answer = "busy" if self.faults.busy else "503" if self.faults.unavailable else ""
            self.calls.append((time.monotonic(), operation, answer))
            if self.faults.busy:
                self.faults.busy -= 1
                return _fault(h, "ErrorServerBusy", "The server cannot service this request right now. "
                              "Try again later.", f'<t:MessageXml><t:Value Name="BackOffMilliseconds">'
                              f'{self.faults.back_off_ms}</t:Value></t:MessageXml>')
            if self.faults.unavailable:
                self.faults.unavailable -= 1
                return send_bytes(h, 503, b"Service Unavailable", "text/html", {"Retry-After": "1"})
            target = envelope.findtext("s:Header/t:ExchangeImpersonation/t:ConnectingSID"
                                       "/t:PrimarySmtpAddress",
                                       namespaces=NS) or envelope.findtext(".//t:Mailbox/t:EmailAddress",
                                                                           namespaces=NS)
            if operation != "ConvertId":
                if (target or "").lower() != self.mailbox.lower():
                    return _fault(h, "ErrorNonExistentMailbox",
                                  f"The SMTP address has no mailbox associated with it. {target}")
                if self.denied:
                    return _fault(h, "ErrorImpersonateUserDenied", "The account does not have permission to "
                                  "impersonate the requested user.")
            handler = getattr(self, f"_op_{operation}", None)
            if handler is None:
                return _fault(h, "ErrorInvalidRequest", f"not simulated: {operation}")
            return _ok(h, operation, handler(request))

    # -- operations: each returns the inner XML of <m:ResponseMessages> --------------------------
    def _folder_ref(self, element: etree._Element) -> str | None:
        if element.tag == f"{{{T}}}DistinguishedFolderId":
            key = element.get("Id")
            return key if key in self.folders else None
        key = element.get("Id")
        return key if key in self.folders else None

    def _folder_xml(self, key: str) -> str:
        name, parent = self.folders[key]
        count = sum(1 for i in self.items.values() if i.folder == key)
        parent_xml = f'<t:ParentFolderId Id="{parent}" ChangeKey="AQAAAA=="/>' if parent else ""
        return (f'<t:Folder><t:FolderId Id="{key}" ChangeKey="AQAAAA=="/>{parent_xml}'
                f"<t:FolderClass>IPF.Note</t:FolderClass><t:DisplayName>{escape(name)}</t:DisplayName>"
                f"<t:TotalCount>{count}</t:TotalCount><t:ChildFolderCount>0</t:ChildFolderCount>"
                f"<t:UnreadCount>{count}</t:UnreadCount></t:Folder>")

    def _op_ConvertId(self, request: etree._Element) -> str:  # exchangelib's version probe
        return _error("ConvertId", "ErrorInvalidIdMalformed", "Id is malformed.")

    def _op_GetFolder(self, request: etree._Element) -> str:
        out = []
        for ref in request.find("m:FolderIds", NS):
            key = self._folder_ref(ref)
            if key is None:
                out.append(_error("GetFolder", "ErrorFolderNotFound",
                                  "The specified folder could not be found in the store.", "<m:Folders/>"))
            else:
                out.append(_success("GetFolder", f"<m:Folders>{self._folder_xml(key)}</m:Folders>"))
        return "".join(out)

    def _op_FindFolder(self, request: etree._Element) -> str:
        [parent_ref] = list(request.find("m:ParentFolderIds", NS))
        parent = self._folder_ref(parent_ref)
        name = request.find(".//t:IsEqualTo/t:FieldURIOrConstant/t:Constant", NS)
        found = [k for k, (n, p) in self.folders.items()
                 if p == parent and (name is None or n == name.get("Value"))]
        folders = "".join(self._folder_xml(k) for k in found)
        return _success("FindFolder", f'<m:RootFolder IndexedPagingOffset="{len(found)}" TotalItemsInView='
                        f'"{len(found)}" IncludesLastItemInRange="true"><t:Folders>{folders}</t:Folders>'
                        "</m:RootFolder>")

    def _op_CreateFolder(self, request: etree._Element) -> str:
        parent = self._folder_ref(request.find("m:ParentFolderId", NS)[0])
        out = []
        for folder in request.find("m:Folders", NS):
            name = folder.findtext("t:DisplayName", namespaces=NS)
            if any(n == name and p == parent for n, p in self.folders.values()):
                out.append(_error("CreateFolder", "ErrorFolderExists",
                                  "A folder with the specified name already exists.", "<m:Folders/>"))
                continue
            key = "AAMk" + uuid.uuid4().hex
            self.folders[key] = (name, parent or "msgfolderroot")
            out.append(_success("CreateFolder", f'<m:Folders><t:Folder><t:FolderId Id="{key}" '
                                'ChangeKey="AQAAAA=="/></t:Folder></m:Folders>'))
        return "".join(out)

    def _op_SyncFolderItems(self, request: etree._Element) -> str:
        folder = self._folder_ref(request.find("m:SyncFolderId", NS)[0]) or ""
        state = request.findtext("m:SyncState", namespaces=NS)
        most = min(int(request.findtext("m:MaxChangesReturned", default=str(MAX_CHANGES), namespaces=NS)),
                   MAX_CHANGES)
        log = self.events.setdefault(folder, [])
        if state:
            try:
                generation, position, snapshot = (int(x) for x in base64.b64decode(state).decode().split(":"))
                if generation < self.min_sync:
                    raise ValueError(state)
            except ValueError:
                return _error("SyncFolderItems", "ErrorInvalidSyncStateData", "Synchronization state data is "
                              "corrupt or otherwise invalid.")
        else:  # a first sync lists what the folder holds now, then follows its changes
            position, snapshot = len(log), 0
        if snapshot >= 0:
            current = [i.id for i in self.items.values() if i.folder == folder]
            page = [("Create", item_id) for item_id in current[snapshot:snapshot + most]]
            more = snapshot + most < len(current)
            position, snapshot = position, (snapshot + most if more else -1)
        else:
            page = log[position:position + most]
            more = position + most < len(log)
            position += len(page)
        xml = []
        for kind, item_id in page:
            if kind == "Create":
                item = self.items.get(item_id)
                if item is None or item.folder != folder:
                    continue
                xml.append(f'<t:Create><t:Message><t:ItemId Id="{item_id}" ChangeKey="CQAAAA=="/>'
                           f"<t:DateTimeReceived>{_iso(item.received)}</t:DateTimeReceived></t:Message></t:Create>")
            else:
                xml.append(f'<t:Delete><t:ItemId Id="{item_id}" ChangeKey="CQAAAA=="/></t:Delete>')
        new_state = base64.b64encode(f"{self.generation}:{position}:{snapshot}".encode()).decode()
        return _success("SyncFolderItems", f"<m:SyncState>{new_state}</m:SyncState>"
                        "<m:IncludesLastItemInRange>"
                        f"{'false' if more else 'true'}</m:IncludesLastItemInRange><m:Changes>{''.join(xml)}"
                        "</m:Changes>")

    def _op_GetItem(self, request: etree._Element) -> str:
        wanted = {f.get("FieldURI")
                  for f in request.iterfind("m:ItemShape/t:AdditionalProperties/t:FieldURI", NS)}
        out = []
        for ref in request.find("m:ItemIds", NS):
            item = self.items.get(ref.get("Id"))
            if item is None:
                out.append(_error("GetItem", "ErrorItemNotFound",
                                  "The specified object was not found in the store.", "<m:Items/>"))
                continue
            fields = ""
            if "item:MimeContent" in wanted:
                fields += (f'<t:MimeContent CharacterSet="UTF-8">{base64.b64encode(item.mime).decode()}'
                           "</t:MimeContent>")
            fields += f'<t:ItemId Id="{item.id}" ChangeKey="CQAAAA=="/>'
            if "item:ParentFolderId" in wanted:
                fields += f'<t:ParentFolderId Id="{item.folder}" ChangeKey="AQAAAA=="/>'
            if "message:InternetMessageId" in wanted:
                fields += f"<t:InternetMessageId>{escape(item.internet_message_id)}</t:InternetMessageId>"
            out.append(_success("GetItem", f"<m:Items><t:Message>{fields}</t:Message></m:Items>"))
        return "".join(out)

    def _op_MoveItem(self, request: etree._Element) -> str:
        target = self._folder_ref(request.find("m:ToFolderId", NS)[0])
        out = []
        for ref in request.find("m:ItemIds", NS):
            if target is None or ref.get("Id") not in self.items:
                out.append(_error("MoveItem", "ErrorItemNotFound",
                                  "The specified object was not found in the store.", "<m:Items/>"))
                continue
            old = self._remove(ref.get("Id"))
            new_id = self._add(target, old.mime, old.internet_message_id)  # EWS ids change on a move
            out.append(_success("MoveItem", f'<m:Items><t:Message><t:ItemId Id="{new_id}" '
                                'ChangeKey="CQAAAA=="/></t:Message></m:Items>'))
        return "".join(out)

    def _op_DeleteItem(self, request: etree._Element) -> str:
        out = []
        for ref in request.find("m:ItemIds", NS):
            if ref.get("Id") not in self.items:
                out.append(_error("DeleteItem", "ErrorItemNotFound",
                                  "The specified object was not found in the store."))
                continue
            self._remove(ref.get("Id"))
            out.append(_success("DeleteItem", ""))
        return "".join(out)

    def _op_CreateItem(self, request: etree._Element) -> str:
        disposition = request.get("MessageDisposition")
        saved = request.find("m:SavedItemFolderId", NS)
        out = []
        for message in request.find("m:Items", NS):
            mime_text = message.findtext("t:MimeContent", namespaces=NS)
            if disposition != "SendAndSaveCopy" or mime_text is None:
                out.append(_error("CreateItem", "ErrorInvalidRequest",
                                  "only SendAndSaveCopy of MIME is simulated", "<m:Items/>"))
                continue
            mime = base64.b64decode(mime_text)
            parsed = message_from_bytes(mime)
            to = [a.lower() for _, a in getaddresses(parsed.get_all("To", []) + parsed.get_all("Cc", []))]
            self.outbound.append((to, mime))
            folder = self._folder_ref(saved[0]) if saved is not None else "sentitems"
            self._add(folder or "sentitems", mime, str(parsed.get("Message-ID", "")).strip())
            out.append(_success("CreateItem", "<m:Items/>"))
        return "".join(out)

    def _op_FindItem(self, request: etree._Element) -> str:
        parents = [self._folder_ref(ref) for ref in request.find("m:ParentFolderIds", NS)]
        items = [i for i in self.items.values() if i.folder in parents]
        constant = request.find("m:Restriction/t:IsEqualTo/t:FieldURIOrConstant/t:Constant", NS)
        field_uri = request.find("m:Restriction/t:IsEqualTo/t:FieldURI", NS)
        if (constant is not None and field_uri is not None
                and field_uri.get("FieldURI") == "message:InternetMessageId"):
            items = [i for i in items if i.internet_message_id == constant.get("Value")]
        view = request.find("m:IndexedPageItemView", NS)
        offset = int(view.get("Offset", "0")) if view is not None else 0
        most = int(view.get("MaxEntriesReturned", "1000")) if view is not None else 1000
        page = items[offset:offset + most]
        wanted = {f.get("FieldURI")
                  for f in request.iterfind("m:ItemShape/t:AdditionalProperties/t:FieldURI", NS)}
        xml = []
        for item in page:
            fields = f'<t:ItemId Id="{item.id}" ChangeKey="CQAAAA=="/>'
            if "item:DateTimeReceived" in wanted:
                fields += f"<t:DateTimeReceived>{_iso(item.received)}</t:DateTimeReceived>"
            if "message:InternetMessageId" in wanted:
                fields += f"<t:InternetMessageId>{escape(item.internet_message_id)}</t:InternetMessageId>"
            xml.append(f"<t:Message>{fields}</t:Message>")
        last = offset + len(page) >= len(items)
        return _success("FindItem", f'<m:RootFolder IndexedPagingOffset="{offset + len(page)}" '
                        "TotalItemsInView="
                        f'"{len(items)}" IncludesLastItemInRange="{"true" if last else "false"}">'
                        f"<t:Items>{''.join(xml)}</t:Items></m:RootFolder>")


def _iso(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def _success(operation: str, inner: str) -> str:
    return (f'<m:{operation}ResponseMessage ResponseClass="Success">'
            f"<m:ResponseCode>NoError</m:ResponseCode>{inner}"
            f"</m:{operation}ResponseMessage>")


def _error(operation: str, code: str, text: str, inner: str = "") -> str:
    return (f'<m:{operation}ResponseMessage ResponseClass="Error">'
            f"<m:MessageText>{escape(text)}</m:MessageText>"
            f"<m:ResponseCode>{code}</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>{inner}"
            f"</m:{operation}ResponseMessage>")


HEADER = ('<s:Header><h:ServerVersionInfo MajorVersion="15" MinorVersion="20" MajorBuildNumber="8005" '
          'MinorBuildNumber="18" Version="V2018_01_08" xmlns:h="' + T + '" xmlns="' + T + '"/></s:Header>')


def _envelope(body: str) -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{S}">{HEADER}<s:Body '
            f'xmlns:m="{M}" xmlns:t="{T}">{body}</s:Body></s:Envelope>').encode()


def _ok(h: BaseHTTPRequestHandler, operation: str, messages: str) -> None:
    send_bytes(h, 200, _envelope(f"<m:{operation}Response><m:ResponseMessages>{messages}</m:ResponseMessages>"
                                 f"</m:{operation}Response>"), "text/xml; charset=utf-8")


def _fault(h: BaseHTTPRequestHandler, code: str, text: str, extra: str = "") -> None:
    """A SOAP fault as Exchange sends one for throttling and impersonation failures (HTTP 500)."""
    e = "http://schemas.microsoft.com/exchange/services/2006/errors"
    body = (f'<s:Fault><faultcode xmlns:a="{T}">a:{code}</faultcode>'
            f'<faultstring xml:lang="en-US">{escape(text)}'
            f'</faultstring><detail><e:ResponseCode xmlns:e="{e}">{code}</e:ResponseCode>'
            f'<e:Message xmlns:e="{e}">'
            f"{escape(text)}</e:Message>{extra}</detail></s:Fault>")
    send_bytes(h, 500, _envelope(body), "text/xml; charset=utf-8")

