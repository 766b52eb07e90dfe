"""The Microsoft Graph adapter (Exchange Online, NHSmail) over httpx.

- Client-credentials token from the Microsoft identity platform, cached until shortly before it
  expires and fetched again on a 401.
- New mail from `mailFolders/inbox/messages/delta`. The delta link and the ids found but not yet
  filed are kept in the register (`MailboxState`), so a restart neither rescans nor misses mail.
  When Graph says the sync state is gone (410, following its Location, or any 40X with
  syncStateNotFound, syncStateInvalid or resyncRequired) the saved link is dropped and a fresh
  delta lists what is still in the inbox.
- `Prefer: IdType="ImmutableId"`, so moving a message does not change its id.
- Messages are read whole as MIME (`/$value`, streamed), so attachments arrive inside them.
- `sendMail` with the MIME message; Exchange saves it to Sent Items. A message over 3 MB would pass
  Graph's 4 MB a request, so it goes as a draft with its files attached through upload sessions,
  then sent (graph_upload.py).
- HTTP 429, 503 and 504 honour `Retry-After` (seconds or an HTTP date); dropped connections are
  retried; other errors say in plain words what is wrong (wrong tenant, missing permission,
  mailbox not found). A 409 on creating a filing folder means it exists: it is looked up again.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx

from safeguard.adapters.mail.graph_upload import LARGE, send_large
from safeguard.adapters.mail.port import Folder, Mailbox, PermanentMailboxError, TemporaryMailboxError
from safeguard.adapters.mail.sync_state import MemoryState, StateStore, SyncState, SyncStates

__all__ = ["GraphMailbox", "GraphSettings", "MemoryState", "StateStore"]  # the state types are re-exported

WELL_KNOWN = {Folder.INBOX: "inbox", Folder.SENT: "sentitems"}
RETRY_STATUSES = (429, 503, 504)
# The client errors a delta request may meet, read before giving up: some say "start the sync again".
DELTA_ANSWERS = (200, 400, 403, 404, 405, 409, 410, 412, 422)
RESYNC_CODES = ("syncstatenotfound", "syncstateinvalid", "resyncrequired")


@dataclass(frozen=True)
class GraphSettings:
    address: str  # the shared mailbox (user principal name or id)
    tenant_id: str
    client_id: str
    client_secret: str
    authority: str = "https://login.microsoftonline.com"
    graph_url: str = "https://graph.microsoft.com/v1.0"
    timeout: float = 60.0
    max_attempts: int = 6
    max_retry_after: float = 120.0


class GraphMailbox(Mailbox):
    def __init__(self, settings: GraphSettings, state: StateStore,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings, self.state, self._sleep = settings, state, sleep
        self.address = settings.address
        self._client = httpx.Client(timeout=settings.timeout)
        self._token: str | None = None
        self._token_expires = 0.0
        self._folders: dict[str, str] = {}
        self._sync = SyncStates(state, f"graph:{settings.address.lower()}", cursor_field="delta")

    # -- plumbing -------------------------------------------------------------------------------
    def _get_token(self) -> str:
        if self._token and time.monotonic() < self._token_expires:
            return self._token
        s = self.settings
        url = f"{s.authority.rstrip('/')}/{quote(s.tenant_id)}/oauth2/v2.0/token"
        data = {"grant_type": "client_credentials", "client_id": s.client_id,
                "client_secret": s.client_secret, "scope": "https://graph.microsoft.com/.default"}
        try:
            response = self._client.post(url, data=data)
        except httpx.TransportError as exc:
            raise TemporaryMailboxError("cannot reach the Microsoft identity platform") from exc
        if response.status_code != 200:
            detail = _json(response).get("error_description", "")
            if "AADSTS90002" in detail or "AADSTS900023" in detail:
                raise PermanentMailboxError("the tenant id is wrong: Microsoft does not know that tenant")
            if "AADSTS7000215" in detail or "AADSTS700016" in detail:
                raise PermanentMailboxError("the application id or its secret is wrong "
                                            "(or the secret expired)")
            raise PermanentMailboxError(f"the identity platform refused the sign-in ({response.status_code})")
        body = response.json()
        self._token = body["access_token"]
        self._token_expires = time.monotonic() + max(60, int(body.get("expires_in", 3600)) - 300)
        return self._token

    def _request(self, method: str, path: str, *, expect: tuple[int, ...] = (200,), stream: bool = False,
                 idempotent: bool = True, signed: bool = True, **kwargs: Any) -> httpx.Response:
        """signed=False for an upload session's URL, which carries its own authorization: Microsoft
        says to send no Authorization header there."""
        url = (path if path.startswith("http")
               else f"{self.settings.graph_url}/users/{quote(self.address)}{path}")
        refreshed, extra_headers = False, kwargs.pop("headers", {})
        for attempt in range(1, self.settings.max_attempts + 1):
            headers = ({"Authorization": f"Bearer {self._get_token()}", "Prefer": 'IdType="ImmutableId"'}
                       if signed else {}) | extra_headers
            try:
                request = self._client.build_request(method, url, headers=headers, **kwargs)
                response = self._client.send(request, stream=stream)
            except httpx.TransportError as exc:
                if not idempotent and not isinstance(exc, httpx.ConnectError):
                    # The request may have arrived: sending again could send twice. The outbox looks
                    # in Sent Items before it tries again.
                    raise TemporaryMailboxError("the connection to Microsoft Graph dropped "
                                                "while sending") from exc
                if attempt == self.settings.max_attempts:
                    raise TemporaryMailboxError("the connection to Microsoft Graph keeps dropping") from exc
                self._sleep(min(2 ** attempt, 30))
                continue
            if response.status_code in expect:
                return response
            if stream:
                response.read()
            if response.status_code == 401 and not refreshed:
                self._token, refreshed = None, True
                continue
            if response.status_code in RETRY_STATUSES and attempt < self.settings.max_attempts:
                self._sleep(_retry_after(response, attempt, self.settings.max_retry_after))
                continue
            raise _error(response)
        raise TemporaryMailboxError("Microsoft Graph is throttling this mailbox; the next run will continue")

    def _folder_id(self, folder: Folder) -> str:
        if folder in WELL_KNOWN:
            return WELL_KNOWN[folder]
        name = str(folder)
        if name not in self._folders:
            found = self._find_folder(name)
            if found is None:
                created = self._request("POST", "/mailFolders", json={"displayName": name},
                                        expect=(200, 201, 409))
                # 409 ErrorFolderExists: made meanwhile (another process, or a listing not caught up)
                found = created.json()["id"] if created.status_code != 409 else self._find_folder(name)
            if found is None:
                raise TemporaryMailboxError(f"Microsoft Graph says the {name} folder exists but does not "
                                            "list it yet; the next run will look again")
            self._folders[name] = found
        return self._folders[name]

    def _find_folder(self, name: str) -> str | None:
        found = self._request("GET", "/mailFolders", params={"$filter": f"displayName eq '{name}'",
                                                             "$select": "id,displayName"}).json()["value"]
        return found[0]["id"] if found else None

    # -- state ------------------------------------------------------------------------------------
    # -- the port ---------------------------------------------------------------------------------
    def list_new(self, limit: int | None = None) -> list[str]:
        state = self._sync.load()
        pending = dict.fromkeys(state.pending)
        link, params = (state.cursor, None) if state.cursor else self._fresh_delta()
        restarted = False
        while True:
            response = self._request("GET", link, params=params, expect=DELTA_ANSWERS)
            params = None
            if response.status_code != 200:
                if not _sync_reset(response):
                    raise _error(response)
                if restarted:
                    raise TemporaryMailboxError("Microsoft Graph asked twice running to start the inbox sync "
                                                "again; the next run will start it once more")
                # The sync state is gone: forget the saved link now (a later failure must not offer it
                # again) and start afresh; the inbox still holds everything not yet filed.
                self._sync.save(SyncState(None, list(pending)))
                link, params, restarted = *self._restart(response), True
                continue
            body = response.json()
            for item in body.get("value", []):
                if "@removed" in item:
                    pending.pop(item["id"], None)
                else:
                    pending.setdefault(item["id"])
            if "@odata.nextLink" in body:
                link = body["@odata.nextLink"]
                continue
            self._sync.save(SyncState(body.get("@odata.deltaLink"), list(pending)))
            return list(pending)[:limit]

    def _fresh_delta(self) -> tuple[str, dict[str, str] | None]:
        return (f"{self.settings.graph_url}/users/{quote(self.address)}/mailFolders/inbox/messages/delta",
                {"$select": "id,receivedDateTime"})

    def _restart(self, response: httpx.Response) -> tuple[str, dict[str, str] | None]:
        """Where a fresh sync starts: a 410's Location (the initial query), or our own first request."""
        location = response.headers.get("Location", "")
        return (location, None) if response.status_code == 410 and location else self._fresh_delta()

    def arrivals(self) -> dict[str, datetime]:
        """Each inbox message's receivedDateTime, 500 to a request; the delta link is left alone."""
        found: dict[str, datetime] = {}
        link = "/mailFolders/inbox/messages"
        params: dict[str, str] | None = {"$select": "id,receivedDateTime", "$top": "500"}
        while link:
            body = self._request("GET", link, params=params).json()
            params = None
            for m in body.get("value", []):
                if m.get("receivedDateTime"):
                    found[m["id"]] = datetime.fromisoformat(m["receivedDateTime"])
            link = body.get("@odata.nextLink", "")
        return found

    def fetch(self, mailbox_id: str) -> bytes | None:
        meta = self._request("GET", f"/messages/{quote(mailbox_id)}", params={"$select": "id,parentFolderId"},
                             expect=(200, 404))
        if meta.status_code == 404 or meta.json().get("parentFolderId") != self._inbox_id():
            self._sync.forget(mailbox_id)
            return None
        response = self._request("GET", f"/messages/{quote(mailbox_id)}/$value", stream=True,
                                 expect=(200, 404))
        try:
            if response.status_code == 404:
                return None
            return b"".join(response.iter_bytes())
        finally:
            response.close()

    def _inbox_id(self) -> str:
        if "__inbox" not in self._folders:
            self._folders["__inbox"] = self._request("GET", "/mailFolders/inbox",
                                                     params={"$select": "id"}).json()["id"]
        return self._folders["__inbox"]

    def move(self, mailbox_id: str, folder: Folder) -> None:
        self._request("POST", f"/messages/{quote(mailbox_id)}/move",
                      json={"destinationId": self._folder_id(folder)}, expect=(200, 201, 404))
        self._sync.forget(mailbox_id)

    def send(self, message: bytes, *, message_id: str, recipients: list[str]) -> None:
        if not recipients:
            raise PermanentMailboxError("no recipients")
        if len(message) > LARGE:  # sendMail would pass Graph's 4 MB a request
            send_large(self._request, message, message_id)
            return
        self._request("POST", "/sendMail", content=base64.b64encode(message),
                      headers={"Content-Type": "text/plain"}, expect=(202,), idempotent=False)

    def in_sent(self, message_id: str) -> bool:
        escaped = message_id.replace("'", "''")
        found = self._request("GET", "/mailFolders/sentitems/messages",
                              params={"$filter": f"internetMessageId eq '{escaped}'", "$select": "id"}).json()
        return bool(found.get("value"))

    def folder_counts(self) -> dict[str, int]:
        return {str(f): int(self._request("GET", f"/mailFolders/{self._folder_id(f)}",
                                          params={"$select": "totalItemCount"}).json()["totalItemCount"])
                for f in Folder}

    def message_ids(self, folder: Folder) -> list[str]:
        ids: list[str] = []
        link = f"/mailFolders/{self._folder_id(folder)}/messages"
        params: dict[str, str] | None = {"$select": "internetMessageId", "$top": "500"}
        while link:
            body = self._request("GET", link, params=params).json()
            params = None
            ids += [m.get("internetMessageId") or "" for m in body.get("value", [])]
            link = body.get("@odata.nextLink", "")
        return ids

    def _delete(self, folder: Folder, message_ids: set[str]) -> int:
        link, deleted = f"/mailFolders/{self._folder_id(folder)}/messages", 0
        for message_id in sorted(message_ids):
            escaped = message_id.replace("'", "''")
            found = self._request("GET", link, params={"$filter": f"internetMessageId eq '{escaped}'",
                                                       "$select": "id"}).json().get("value", [])
            for item in found:
                self._request("DELETE", f"/messages/{quote(item['id'])}", expect=(204, 404))
                deleted += 1
        return deleted

    def close(self) -> None:
        self._client.close()


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        value = response.json()
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _retry_after(response: httpx.Response, attempt: int, cap: float) -> float:
    """Retry-After as seconds or as an HTTP date (RFC 9110 10.2.3); our own back-off without one."""
    value = response.headers.get("Retry-After", "")
    try:
        return min(max(float(value), 0.0), cap)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return min(2.0 ** attempt, cap)
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return min(max((when - datetime.now(UTC)).total_seconds(), 0.0), cap)


def _sync_reset(response: httpx.Response) -> bool:
    """Whether Graph says the delta's sync state is gone and the sync must start again."""
    error = _json(response).get("error")
    code = str(error.get("code", "")).lower() if isinstance(error, dict) else ""
    return response.status_code == 410 or (400 <= response.status_code < 500 and code in RESYNC_CODES)


def _error(response: httpx.Response) -> Exception:
    code = (_json(response).get("error", {}).get("code", "")
            if isinstance(_json(response).get("error"), dict) else "")
    status = response.status_code
    if status == 403 and code == "ErrorAccessDenied":
        return PermanentMailboxError("the application may not use this mailbox: an application access policy "
                                     "(or RBAC for applications) does not include it")
    if status == 403:
        return PermanentMailboxError("the application lacks the Mail.ReadWrite and Mail.Send permissions "
                                     "(admin consent needed)")
    if status == 404 and code in ("ErrorInvalidUser", "MailboxNotEnabledForRESTAPI", "ResourceNotFound"):
        return PermanentMailboxError("the mailbox was not found: check the address in settings.yaml")
    if status == 413:
        return PermanentMailboxError("the request was larger than Microsoft Graph takes at once (4 MB)")
    if status in RETRY_STATUSES or status >= 500:
        return TemporaryMailboxError(f"Microsoft Graph is unavailable ({status})")
    return PermanentMailboxError(f"Microsoft Graph refused the request ({status} {code})".strip())
