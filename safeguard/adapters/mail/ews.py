"""The Exchange Web Services adapter (Exchange Server on premises; Exchange Online until EWS is
switched off there: phased from 1 October 2026, permanent 1 April 2027) over `exchangelib`.

- The shared mailbox is opened by impersonation (application access) or delegate access.
- OAuth2 client credentials for Exchange Online; NTLM with a service account on premises.
- New mail from `SyncFolderItems` on the inbox. The sync state and the ids found but not yet filed
  are kept in the register (`MailboxState`), so a restart neither rescans nor misses mail; a sync
  state Exchange no longer accepts starts a fresh sync, which lists what is still in the inbox.
- Messages are read whole as MIME (`MimeContent`), so attachments arrive inside them exactly as sent.
- Moving changes an EWS item id; the old id then reads as "no longer in the inbox".
- Mail is sent with `CreateItem` (`SendAndSaveCopy`), so Exchange keeps the copy in Sent Items.
- `ErrorServerBusy` and HTTP 503 are honoured through exchangelib's fault tolerance, waiting as long
  as Exchange asks (`BackOffMilliseconds`, `Retry-After`), but only `max_backoffs` times per
  operation and never longer than `max_wait` seconds at once: then the run stops and the next
  scheduled run continues where it left off.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from safeguard.adapters.mail.port import (
    Folder,
    Mailbox,
    MailboxError,
    PermanentMailboxError,
    TemporaryMailboxError,
)
from safeguard.adapters.mail.sync_state import StateStore, SyncState, SyncStates

DISTINGUISHED = {Folder.INBOX: "inbox", Folder.SENT: "sent"}


@dataclass(frozen=True)
class EwsSettings:
    address: str  # the shared mailbox's primary SMTP address
    endpoint: str  # e.g. https://outlook.office365.com/EWS/Exchange.asmx
    auth: Literal["oauth2", "ntlm"] = "oauth2"
    access: Literal["impersonation", "delegate"] = "impersonation"
    tenant_id: str = ""
    client_id: str = ""
    client_secret: str = ""
    username: str = ""  # NTLM: DOMAIN\\user or user@domain
    password: str = ""
    authority: str = "https://login.microsoftonline.com"
    max_wait: float = 300.0  # the longest single back-off Exchange may ask for before we give up this run
    max_backoffs: int = 5  # back-offs per operation before giving up this run
    max_attempts: int = 3  # dropped connections ridden out per (idempotent) operation


def _exchangelib() -> Any:
    """Imported on first use: the other adapters do not pay for exchangelib's start-up."""
    import exchangelib

    return exchangelib


def _bounded_policy(max_wait: float, max_backoffs: int) -> Any:
    from exchangelib.errors import RateLimitError, UnauthorizedError
    from exchangelib.protocol import FaultTolerance

    class BoundedFaultTolerance(FaultTolerance):  # type: ignore[misc]
        """exchangelib's fault tolerance waits as long as the server asks, for ever if asked for
        ever; this one also counts the back-offs of one operation and stops after `max_backoffs`."""

        def __init__(self) -> None:
            super().__init__(max_wait=max_wait)
            self.used = 0

        def back_off(self, seconds: float | None) -> None:
            self.used += 1
            if self.used > max_backoffs:
                raise RateLimitError("Exchange kept asking us to wait", wait=seconds or 0)
            super().back_off(seconds)

        def raise_response_errors(self, response: Any) -> None:
            # exchangelib reads a 401 as "throttled" under fault tolerance and waits for minutes; for a
            # service account a 401 is a wrong password or a revoked token, which waiting never mends.
            if response.status_code == 401:
                raise UnauthorizedError(f"Invalid credentials for {response.url}")
            super().raise_response_errors(response)

    return BoundedFaultTolerance()


def _oauth2_credentials(client_id: str, client_secret: str, tenant_id: str, authority: str,
                        address: str) -> Any:
    """OAuth2 client credentials whose token comes from `authority` (national clouds, test servers)."""
    ex = _exchangelib()

    class Credentials(ex.OAuth2Credentials):  # type: ignore[misc, name-defined]
        @property
        def token_url(self) -> str:
            return f"{authority.rstrip('/')}/{self.tenant_id}/oauth2/v2.0/token"

        def session_params(self) -> dict[str, Any]:
            # Client-credentials tokens have no refresh token, so requests-oauthlib's automatic
            # refresh cannot work; without it an expired token raises TokenExpiredError, and
            # exchangelib then calls refresh() and opens a new session with a new token.
            return {"token": self.access_token}

        def refresh(self, session: Any) -> None:
            self.access_token = None

    return Credentials(client_id=client_id, client_secret=client_secret, tenant_id=tenant_id,
                       identity=ex.Identity(primary_smtp_address=address))


class EwsMailbox(Mailbox):
    def __init__(self, settings: EwsSettings, state: StateStore,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings, self.state, self._sleep = settings, state, sleep
        self.address = settings.address
        self._account_obj: Any = None
        self._folders: dict[str, Any] = {}
        self._sync = SyncStates(state, f"ews:{settings.address.lower()}", cursor_field="sync")

    # -- plumbing -------------------------------------------------------------------------------
    @property
    def _account(self) -> Any:
        if self._account_obj is None:
            ex = _exchangelib()
            s = self.settings
            if s.auth == "oauth2":
                credentials = _oauth2_credentials(s.client_id, s.client_secret, s.tenant_id, s.authority,
                                                  s.address)
                auth_type = ex.OAUTH2
            else:
                credentials = ex.Credentials(username=s.username, password=s.password)
                auth_type = ex.NTLM
            config = ex.Configuration(service_endpoint=s.endpoint, credentials=credentials,
                                      auth_type=auth_type,
                                      retry_policy=_bounded_policy(s.max_wait, s.max_backoffs),
                                      max_connections=1)
            access = ex.IMPERSONATION if s.access == "impersonation" else ex.DELEGATE
            with self._operation("open the mailbox"):
                self._account_obj = ex.Account(primary_smtp_address=s.address, config=config,
                                               autodiscover=False, access_type=access)
        return self._account_obj

    @contextmanager
    def _operation(self, what: str) -> Iterator[None]:
        """Translate exchangelib's exceptions into the port's, in plain words."""
        policy = self._account_obj.protocol.retry_policy if self._account_obj is not None else None
        if policy is not None and hasattr(policy, "used"):
            policy.used = 0
        try:
            yield
        except MailboxError:
            raise
        except Exception as exc:
            raise _translate(exc, what) from exc

    def _with_retries(self, what: str, action: Callable[[], Any]) -> Any:
        """Run an idempotent action, riding out dropped connections."""
        from exchangelib.errors import ErrorTimeoutExpired, RateLimitError, TransportError, UnauthorizedError

        for attempt in range(1, self.settings.max_attempts + 1):
            try:
                with self._operation(what):
                    return action()
            except MailboxError as exc:
                cause = exc.__cause__
                if isinstance(cause, UnauthorizedError) and self.settings.auth == "oauth2" and attempt == 1 \
                        and attempt < self.settings.max_attempts:
                    self._drop_token()  # revoked or expired early: one fresh token, then believe the 401
                    continue
                dropped = isinstance(cause, ErrorTimeoutExpired | TransportError | ConnectionError) and \
                    not isinstance(cause, RateLimitError)
                if not dropped or attempt == self.settings.max_attempts:
                    raise
                self._sleep(min(2 ** attempt, 30))
        raise AssertionError("unreachable")

    def _drop_token(self) -> None:
        if self._account_obj is not None:
            self._account_obj.protocol.credentials.access_token = None
            self._account_obj.protocol.close()

    def _folder(self, folder: Folder) -> Any:
        key = str(folder)
        if key in self._folders:
            return self._folders[key]
        account = self._account
        if folder in DISTINGUISHED:
            found = self._with_retries(f"open the {folder} folder",
                                       lambda: getattr(account, DISTINGUISHED[folder]))
        else:
            found = self._find_or_create(key)
        self._folders[key] = found
        return found

    def _find_or_create(self, name: str) -> Any:
        ex = _exchangelib()
        from exchangelib.folders import FolderCollection

        root = self._with_retries("open the top of the mailbox", lambda: self._account.msg_folder_root)
        matches = self._with_retries(f"look for the {name} folder", lambda: list(
            FolderCollection(account=self._account, folders=[root]).find_folders(
                q=ex.Q(name=name), depth="Shallow")))
        if matches:
            return matches[0]
        created = ex.Folder(parent=root, name=name)
        with self._operation(f"create the {name} folder"):
            created.save()
        return created

    # -- the port ---------------------------------------------------------------------------------
    def list_new(self, limit: int | None = None) -> list[str]:
        from exchangelib.errors import ErrorInvalidSyncStateData

        state = self._sync.load()
        pending = dict.fromkeys(state.pending)
        inbox = self._folder(Folder.INBOX)

        def sync(sync_state: str | None) -> list[tuple[str, Any]]:
            inbox.item_sync_state = sync_state
            return list(inbox.sync_items(sync_state=sync_state, only_fields=["datetime_received"]))

        try:
            changes = self._with_retries("read new mail", lambda: sync(state.cursor))
        except MailboxError as exc:
            # Exchange no longer accepts our sync state (ErrorInvalidSyncStateData; exchangelib 5.6
            # trips over that answer's missing SyncState element, hence AttributeError too): start
            # afresh. A fresh sync lists everything still in the inbox, so nothing unfiled is lost.
            if not state.cursor or not isinstance(exc.__cause__, ErrorInvalidSyncStateData | AttributeError):
                raise
            changes = self._with_retries("read new mail", lambda: sync(None))
        for change, item in changes:
            if change == "delete":
                pending.pop(item.id, None)
            elif change == "create":
                pending.setdefault(item.id)
        self._sync.save(SyncState(inbox.item_sync_state, list(pending)))
        return list(pending)[:limit]

    def arrivals(self) -> dict[str, datetime]:
        """Each inbox item's DateTimeReceived, by FindItem (500 to a request); the sync state is
        left alone."""
        inbox = self._folder(Folder.INBOX)

        def listing() -> list[tuple[str, Any]]:
            query = inbox.all().values_list("id", "datetime_received")
            query.page_size = 500
            return list(query)
        rows = self._with_retries("list the inbox", listing)
        return {item_id: datetime.fromtimestamp(received.timestamp(), UTC)
                for item_id, received in rows if item_id and received is not None}

    def fetch(self, mailbox_id: str) -> bytes | None:
        from exchangelib.errors import ErrorItemNotFound

        inbox = self._folder(Folder.INBOX)
        [item] = self._with_retries("read a message", lambda: list(self._account.fetch(
            ids=[(mailbox_id, None)], folder=inbox, only_fields=["mime_content", "parent_folder_id"])))
        if isinstance(item, ErrorItemNotFound) or (
                not isinstance(item, Exception) and item.parent_folder_id.id != inbox.id):
            self._sync.forget(mailbox_id)
            return None
        if isinstance(item, Exception):
            raise _translate(item, "read a message")
        return bytes(item.mime_content)

    def move(self, mailbox_id: str, folder: Folder) -> None:
        from exchangelib.errors import ErrorItemNotFound

        target = self._folder(folder)
        for result in self._with_retries(f"move a message to {folder}", lambda: self._account.bulk_move(
                ids=[(mailbox_id, None)], to_folder=target)):
            if isinstance(result, Exception) and not isinstance(result, ErrorItemNotFound):
                raise _translate(result, f"move a message to {folder}")
        self._sync.forget(mailbox_id)

    def send(self, message: bytes, *, message_id: str, recipients: list[str]) -> None:
        if not recipients:
            raise PermanentMailboxError("no recipients")
        ex = _exchangelib()
        sent = self._folder(Folder.SENT)
        # Not retried here: if the connection drops, Exchange may have sent it. The outbox looks in
        # Sent Items before it tries again.
        with self._operation("send a message"):
            ex.Message(account=self._account, folder=sent, mime_content=message).send_and_save()

    def in_sent(self, message_id: str) -> bool:
        sent = self._folder(Folder.SENT)
        return bool(self._with_retries("look in Sent Items",
                                       lambda: sent.filter(message_id=message_id).exists()))

    def folder_counts(self) -> dict[str, int]:
        from exchangelib.folders import FolderCollection

        folders = [self._folder(folder) for folder in Folder]
        fresh = self._with_retries("count the folders", lambda: list(
            FolderCollection(account=self._account, folders=folders).get_folders()))
        for result in fresh:
            if isinstance(result, Exception):
                raise _translate(result, "count the folders")
        return {str(folder): int(found.total_count or 0) for folder, found in zip(Folder, fresh, strict=True)}

    def message_ids(self, folder: Folder) -> list[str]:
        found = self._folder(folder)
        return [value or "" for value in self._with_retries(
            f"list the {folder} folder", lambda: list(found.all().values_list("message_id", flat=True)))]

    def _delete(self, folder: Folder, message_ids: set[str]) -> int:
        found, deleted = self._folder(folder), 0
        for message_id in sorted(message_ids):
            items = self._with_retries(f"look in the {folder} folder", lambda m=message_id: list(
                found.filter(message_id=m).only("id", "changekey")))
            if not items:
                continue
            for result in self._with_retries(f"delete from the {folder} folder", lambda i=items: list(
                    self._account.bulk_delete(ids=[(x.id, x.changekey) for x in i]))):
                if isinstance(result, Exception):
                    raise _translate(result, f"delete from the {folder} folder")
            deleted += len(items)
        return deleted

    def close(self) -> None:
        if self._account_obj is not None:
            self._account_obj.protocol.close()


def _translate(exc: BaseException, what: str) -> MailboxError:
    """exchangelib's exception, as the port's, saying in plain words what is wrong."""
    from exchangelib import errors as e
    from oauthlib.oauth2 import OAuth2Error

    doing = f"could not {what}"
    if isinstance(exc, OAuth2Error):
        detail = f"{exc.description or ''} {exc.error or ''}"
        if "AADSTS90002" in detail or "AADSTS900023" in detail:
            return PermanentMailboxError("the tenant id is wrong: Microsoft does not know that tenant")
        if "AADSTS7000215" in detail or "AADSTS700016" in detail or exc.error == "invalid_client":
            return PermanentMailboxError("the application id or its secret is wrong (or the secret expired)")
        return PermanentMailboxError(f"the identity platform refused the sign-in ({exc.error})")
    if isinstance(exc, e.ErrorNonExistentMailbox | e.ErrorMailboxStoreUnavailable
                  | e.ErrorInvalidSmtpAddress):
        return PermanentMailboxError("the mailbox was not found: check the address in settings.yaml")
    if isinstance(exc, e.ErrorImpersonateUserDenied | e.ErrorImpersonationDenied):
        return PermanentMailboxError("the application may not open this mailbox: "
                                     "grant it ApplicationImpersonation (on premises) "
                                     "or full_access_as_app limited to this mailbox by RBAC for "
                                     "applications (Exchange Online)")
    if isinstance(exc, e.ErrorAccessDenied):
        return PermanentMailboxError("access to the mailbox was denied: check the application's (or service "
                                     "account's) permission on this mailbox")
    if isinstance(exc, e.UnauthorizedError):
        return PermanentMailboxError("Exchange refused the sign-in: check the user name and password")
    if isinstance(exc, e.ErrorInvalidSyncStateData):
        return PermanentMailboxError("Exchange no longer accepts the saved sync state")
    if isinstance(exc, e.RateLimitError | e.ErrorServerBusy):
        return TemporaryMailboxError("Exchange is throttling this mailbox; the next run will continue")
    if isinstance(exc, e.ErrorTimeoutExpired | e.TransportError | ConnectionError):
        return TemporaryMailboxError(f"{doing}: the connection to Exchange dropped")
    if isinstance(exc, e.ErrorInternalServerTransientError | e.ErrorMailboxMoveInProgress):
        return TemporaryMailboxError(f"{doing}: Exchange is temporarily unavailable")
    if isinstance(exc, e.EWSError):
        return PermanentMailboxError(f"{doing}: Exchange answered {type(exc).__name__}")
    return TemporaryMailboxError(f"{doing}: {type(exc).__name__}")
