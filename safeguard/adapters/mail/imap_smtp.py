"""The IMAP + SMTP mailbox adapter (any standards-based server; tested on Dovecot and Postfix).

Message ids are IMAP UIDs of INBOX. Moves use UID MOVE (RFC 6851) where offered, else
COPY + \\Deleted + EXPUNGE. Sending goes over SMTP, then the exact bytes are APPENDed to Sent over
a second IMAP connection that has Sent selected: a server appending to a folder that no session has
open looks the folder over again each time, so every copy costs more as Sent fills (Dovecot on
Maildir: 1.5 ms a copy into an empty Sent, 5.7 ms into one of 10,000; with Sent selected 1.1 ms
and 1.7 ms; bench/imap_sent.py).

SMTP and IMAP are two servers, so a process killed after the SMTP server accepted an email and
before the APPEND leaves no copy in Sent, and a retry would send it twice. So (copy_to_self, on
unless configured off) the mailbox's own address is one more recipient in the same SMTP
transaction: the server accepts the email for every recipient or for none, and the mailbox's own
copy arrives in INBOX. in_sent looks there as well as in Sent, and intake files such a copy with
file_sent_copies (into Sent, or away if Sent has the APPENDed one already).
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import re
import select
import smtplib
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TypeVar

from safeguard.adapters.mail.port import Folder, Mailbox, PermanentMailboxError, TemporaryMailboxError
from safeguard.faults import checkpoint

T = TypeVar("T")
log = logging.getLogger(__name__)
_NETWORK_ERRORS = (OSError, imaplib.IMAP4.abort, smtplib.SMTPServerDisconnected, socket.timeout, EOFError)


@dataclass(frozen=True)
class ImapSmtpSettings:
    address: str
    host: str
    port: int
    username: str
    password: str
    ssl: bool = False
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_username: str | None = None
    timeout: float = 30.0
    idle: bool = False  # wait for new mail with IMAP IDLE (RFC 2177) instead of asking every few seconds
    copy_to_self: bool = True  # the mailbox is an envelope recipient of what it sends (see the module)


class ImapSmtpMailbox(Mailbox):
    parallel_safe = True

    def __init__(self, settings: ImapSmtpSettings) -> None:
        self.settings = settings
        self.address = settings.address
        self._imap: dict[Folder, imaplib.IMAP4] = {}  # a connection for each folder kept selected
        self._smtp: smtplib.SMTP | None = None
        self._folders_made = False
        self._sizes: tuple[frozenset[str], dict[str, int]] = (frozenset(), {})  # the last sizes() asked

    # -- connections -------------------------------------------------------------------------
    def _connect_imap(self, selected: Folder) -> imaplib.IMAP4:
        s = self.settings
        try:
            imap = (imaplib.IMAP4_SSL(s.host, s.port, ssl_context=ssl.create_default_context(),
                                      timeout=s.timeout)
                    if s.ssl else imaplib.IMAP4(s.host, s.port, timeout=s.timeout))
            imap.login(s.username, s.password)
        except imaplib.IMAP4.abort as exc:  # the connection closed under us: not a refused login
            raise TemporaryMailboxError(f"the IMAP server {s.host}:{s.port} closed the connection") from exc
        except imaplib.IMAP4.error as exc:
            raise PermanentMailboxError("the IMAP server refused the login: "
                                        "check the username and password") from exc
        except _NETWORK_ERRORS as exc:
            raise TemporaryMailboxError(f"cannot reach the IMAP server {s.host}:{s.port}") from exc
        if not self._folders_made:  # once, whichever connection comes first
            for folder in Folder:
                if folder is not Folder.INBOX:
                    imap.create(str(folder))  # "already exists" is answered NO and ignored
            self._folders_made = True
        imap.select(str(selected))
        # Servers list more capabilities once logged in (Dovecot adds MOVE only then); imaplib keeps
        # the list from before login, which would make every move a COPY, STORE and EXPUNGE.
        _, data = imap.capability()
        imap.capabilities = (tuple(data[-1].decode().upper().split()) if data and data[-1]
                             else imap.capabilities)
        self._can_move = "MOVE" in imap.capabilities
        return imap

    def _with_imap(self, action: Callable[[imaplib.IMAP4], T], selected: Folder = Folder.INBOX) -> T:
        """action on the connection that keeps `selected` selected (INBOX unless said), connecting
        (again) as needed."""
        for attempt in (1, 2):
            imap = self._imap.get(selected)
            if imap is None:
                imap = self._imap[selected] = self._connect_imap(selected)
            try:
                return action(imap)
            except _NETWORK_ERRORS as exc:
                self._imap.pop(selected, None)
                if attempt == 2:
                    raise TemporaryMailboxError("the IMAP connection dropped") from exc
        raise AssertionError("unreachable")

    def _connect_smtp(self) -> smtplib.SMTP:
        s = self.settings
        try:
            smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.timeout)
            if s.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if s.smtp_username:
                smtp.login(s.smtp_username, s.password)
        except smtplib.SMTPAuthenticationError as exc:
            raise PermanentMailboxError("the SMTP server refused the login") from exc
        except (*_NETWORK_ERRORS, smtplib.SMTPException) as exc:
            raise TemporaryMailboxError(f"cannot reach the SMTP server {s.smtp_host}:{s.smtp_port}") from exc
        return smtp

    def close(self) -> None:
        for conn, quit_ in [*((imap, "logout") for imap in self._imap.values()), (self._smtp, "quit")]:
            if conn is not None:
                with contextlib.suppress(Exception):  # closing a dead connection is fine
                    getattr(conn, quit_)()
        self._imap, self._smtp = {}, None

    # -- the port ----------------------------------------------------------------------------
    def list_new(self, limit: int | None = None) -> list[str]:
        def search(imap: imaplib.IMAP4) -> list[str]:
            imap.select("INBOX")
            _, data = imap.uid("SEARCH", "UNDELETED")
            return [uid.decode() for uid in (data[0] or b"").split()]
        return self._with_imap(search)[:limit]

    def arrivals(self) -> dict[str, datetime]:
        """Each INBOX message's INTERNALDATE (when the server received it), in one UID FETCH."""
        def fetch(imap: imaplib.IMAP4) -> dict[str, datetime]:
            imap.select("INBOX")
            _, data = imap.uid("FETCH", "1:*", "(INTERNALDATE FLAGS)")
            return {uid.group(1).decode(): _internaldate(when.group(1))
                    for line in data if isinstance(line, bytes)
                    and (uid := _UID.search(line)) and (when := _INTERNALDATE.search(line))
                    and b"\\Deleted" not in line}
        return self._with_imap(fetch)

    def _pause_for_mail(self, remaining: float, poll_seconds: float, sleep: Callable[[float], None]) -> None:
        if not self.settings.idle:
            return super()._pause_for_mail(remaining, poll_seconds, sleep)
        # IDLE at most 5 minutes at a time: servers may end an IDLE after 30 (RFC 2177)
        wait = min(remaining, 300.0)
        self._with_imap(lambda imap: _idle(imap, wait, self.settings.timeout))
        return None

    def fetch(self, mailbox_id: str) -> bytes | None:
        return self._with_imap(lambda imap: _fetch_one(imap, mailbox_id))

    def fetch_many(self, mailbox_ids: list[str]) -> dict[str, bytes | None]:
        """One UID FETCH per group of messages, the groups bounded by size (asked first) so that a
        run of large attachments never sits in memory at once."""
        (asked, known), self._sizes = self._sizes, (frozenset(), {})

        def fetch(imap: imaplib.IMAP4) -> dict[str, bytes | None]:
            found: dict[str, bytes | None] = dict.fromkeys(mailbox_ids)
            sizes = {uid: known[uid] for uid in mailbox_ids if uid in known} if asked >= set(mailbox_ids) \
                else _sizes(imap, mailbox_ids)
            for group in _groups([uid for uid in mailbox_ids if uid in sizes], sizes, FETCH_GROUP_BYTES):
                _, data = imap.uid("FETCH", ",".join(group), "(BODY.PEEK[])")
                for part in data:
                    if isinstance(part, tuple) and (m := _UID.search(part[0])):
                        found[m.group(1).decode()] = part[1]
            for uid in sizes:  # a server that puts UID after the body: ask for those one at a time
                if uid in found and found[uid] is None:
                    found[uid] = _fetch_one(imap, uid)
            return found
        return self._with_imap(fetch) if mailbox_ids else {}

    def sizes(self, mailbox_ids: list[str]) -> dict[str, int]:
        """RFC822.SIZE of each, in one command; kept for the fetch_many that follows (one round trip)."""
        sizes = self._with_imap(lambda imap: _sizes(imap, mailbox_ids)) if mailbox_ids else {}
        self._sizes = (frozenset(mailbox_ids), sizes)
        return dict(sizes)

    def fetch_head(self, mailbox_id: str, max_bytes: int) -> bytes | None:
        def fetch(imap: imaplib.IMAP4) -> bytes | None:
            _, data = imap.uid("FETCH", mailbox_id, f"(BODY.PEEK[]<0.{int(max_bytes)}>)")
            parts = [d for d in data if isinstance(d, tuple)]
            return parts[0][1] if parts else None
        return self._with_imap(fetch)

    def move(self, mailbox_id: str, folder: Folder) -> None:
        self.move_many([mailbox_id], folder)

    def move_many(self, mailbox_ids: list[str], folder: Folder) -> None:
        if not mailbox_ids:
            return
        uids = ",".join(mailbox_ids)

        def move(imap: imaplib.IMAP4) -> None:
            if self._can_move:
                imap.uid("MOVE", uids, str(folder))
                return
            typ, _ = imap.uid("COPY", uids, str(folder))
            if typ == "OK":
                _expunge(imap, mailbox_ids)
        self._with_imap(move)

    def send(self, message: bytes, *, message_id: str, recipients: list[str]) -> None:
        self._smtp_send(message, recipients)
        checkpoint("between_smtp_and_append")
        self._with_imap(lambda imap: _append(imap, str(Folder.SENT), message), Folder.SENT)

    def _smtp_send(self, message: bytes, recipients: list[str]) -> None:
        copy_to = (self.address if self.settings.copy_to_self
                   and self.address.lower() not in {r.lower() for r in recipients} else None)
        for attempt in (1, 2):
            if self._smtp is None:
                self._smtp = self._connect_smtp()
            try:
                refused = _sendmail(self._smtp, self.address, recipients, message, copy_to)
            except smtplib.SMTPRecipientsRefused as exc:
                codes = [code for code, _ in exc.recipients.values()]
                error = PermanentMailboxError if all(c >= 500 for c in codes) else TemporaryMailboxError
                raise error(f"the mail server refused {len(codes)} recipient(s)") from None
            except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as exc:
                error = PermanentMailboxError if exc.smtp_code >= 500 else TemporaryMailboxError
                raise error(f"the mail server refused the message ({exc.smtp_code})") from None
            except (*_NETWORK_ERRORS, smtplib.SMTPException) as exc:
                self._smtp = None
                if attempt == 2:
                    raise TemporaryMailboxError("the SMTP connection dropped") from exc
                continue
            if refused:
                raise PermanentMailboxError(f"the mail server refused {len(refused)} recipient(s)")
            return

    def in_sent(self, message_id: str) -> bool:
        """In Sent, or the mailbox's own copy still in INBOX (see the module). INBOX first: intake
        moves such a copy from INBOX to Sent, never the other way, so a copy moved between the
        two searches is found in the second."""
        def search(imap: imaplib.IMAP4) -> bool:
            return (self.settings.copy_to_self and bool(_search_ids(imap, message_id, "UNDELETED"))
                    or bool(_held_in(imap, Folder.SENT, {message_id})))
        return self._with_imap(search)

    def file_sent_copies(self, mailbox_ids: list[str]) -> None:
        """The mailbox's own copies (see the module) into Sent; one whose Message-ID Sent holds
        already (the APPEND after the SMTP transaction) is deleted instead, so Sent keeps one."""
        if not mailbox_ids:
            return

        def held_in_sent(imap: imaplib.IMAP4) -> list[str]:
            imap.select("INBOX")
            _, data = imap.uid("FETCH", ",".join(mailbox_ids), "(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
            copies = {uid: message_id for uid, message_id in _header_ids(data) if uid and message_id}
            held = _held_in(imap, Folder.SENT, set(copies.values()))
            return [uid for uid, message_id in copies.items() if message_id in held]
        held = self._with_imap(held_in_sent)
        self.move_many([uid for uid in mailbox_ids if uid not in held], Folder.SENT)
        if held:
            self._with_imap(lambda imap: _expunge(imap, held))

    def folder_counts(self) -> dict[str, int]:
        def counts(imap: imaplib.IMAP4) -> dict[str, int]:
            result = {}
            for folder in Folder:
                _, data = imap.status(str(folder), "(MESSAGES)")
                m = re.search(rb"MESSAGES (\d+)", data[0] or b"")
                result[str(folder)] = int(m.group(1)) if m else 0
            return result
        return self._with_imap(counts)

    def message_ids(self, folder: Folder) -> list[str]:
        return [message_id for _uid, message_id in self._with_imap(lambda imap: _uids_and_ids(imap, folder))]

    def _delete(self, folder: Folder, message_ids: set[str]) -> int:
        def delete(imap: imaplib.IMAP4) -> int:
            uids = [uid for uid, message_id in _uids_and_ids(imap, folder) if message_id in message_ids]
            if not uids:
                return 0
            imap.select(str(folder))
            try:
                _expunge(imap, uids)
            finally:
                imap.select("INBOX")
            return len(uids)
        return self._with_imap(delete)


def _expunge(imap: imaplib.IMAP4, uids: list[str]) -> None:
    """Remove these messages from the selected folder. With UIDPLUS (RFC 4315) only these go: a plain
    EXPUNGE would also remove whatever a person's mail client had marked \\Deleted there."""
    imap.uid("STORE", ",".join(uids), "+FLAGS.SILENT", r"(\Deleted)")
    if "UIDPLUS" in imap.capabilities:
        imap.uid("EXPUNGE", ",".join(uids))
    else:
        imap.expunge()


def _uids_and_ids(imap: imaplib.IMAP4, folder: Folder) -> list[tuple[str, str]]:
    """(UID, Message-ID) of every message in a folder ("" for a message without one)."""
    typ, _ = imap.select(str(folder), readonly=True)
    try:
        if typ != "OK":
            return []
        _, data = imap.uid("FETCH", "1:*", "(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    finally:
        imap.select("INBOX")
    return _header_ids(data)


def _header_ids(data: list) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    """(UID, Message-ID) from a UID FETCH of BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]."""
    found = []
    for part in data:
        if isinstance(part, tuple):
            uid = re.search(rb"UID (\d+)", part[0])
            header = part[1].decode("utf-8", "replace")
            m = re.search(r"^Message-ID:\s*(.+?)\s*$", header, re.IGNORECASE | re.MULTILINE | re.DOTALL)
            found.append((uid.group(1).decode() if uid else "", " ".join(m.group(1).split()) if m else ""))
    return found


def _search_ids(imap: imaplib.IMAP4, message_id: str, *criteria: str) -> list[bytes]:
    """UIDs in the selected folder of the messages with this Message-ID."""
    _, data = imap.uid("SEARCH", *criteria, "HEADER", "Message-ID", _quote(message_id))
    return (data[0] or b"").split()


def _held_in(imap: imaplib.IMAP4, folder: Folder, message_ids: set[str]) -> set[str]:
    """Which of these Message-IDs the folder holds: one SELECT for them all, INBOX selected again after."""
    imap.select(str(folder), readonly=True)
    try:
        return {message_id for message_id in message_ids if _search_ids(imap, message_id)}
    finally:
        imap.select("INBOX")


def _sendmail(smtp: smtplib.SMTP, sender: str, recipients: list[str], message: bytes,
              copy_to: str | None = None) -> dict[str, tuple[int, bytes]]:
    """smtplib's sendmail, but where the server offers PIPELINING (RFC 2920) MAIL, RCPT and DATA go
    in one write and their answers are read together: one round trip where there were three.
    copy_to: one more envelope recipient (the mailbox's own copy: see the module), which neither
    makes the email go when every recipient is refused nor counts as a refusal itself.
    Raises and returns as sendmail does (the refused recipients, if only some were refused)."""
    envelope = [*recipients, *([copy_to] if copy_to else [])]
    smtp.ehlo_or_helo_if_needed()
    if smtp.has_extn("pipelining"):
        # Spelt as smtplib spells them (the verbs are case-insensitive), so that logs and tests read alike.
        smtp.send(f"mail FROM:<{sender}>\r\n" + "".join(f"rcpt TO:<{r}>\r\n" for r in envelope) + "data\r\n")
        mail = smtp.getreply()
        answers = [smtp.getreply() for _ in envelope]
        data: tuple[int, bytes] | None = smtp.getreply()
    else:
        mail = smtp.mail(sender)
        answers = [smtp.rcpt(r) for r in envelope] if mail[0] == 250 else []
        data = None
    refused = {r: answer for r, answer in zip(envelope, answers, strict=False) if answer[0] not in (250, 251)}
    wanted = {r: answer for r, answer in refused.items() if r != copy_to}
    if data is not None and data[0] == 354 and (mail[0] != 250 or len(wanted) == len(recipients)):
        if len(refused) < len(envelope):  # the copy was accepted: ending the message would deliver it
            smtp.close()  # a dropped connection abandons the transaction; the next send reconnects
            raise _refusal(mail, wanted, sender)
        smtp.send(b".\r\n")  # a server that said go ahead regardless: end the empty message at once
        smtp.getreply()
    if mail[0] != 250 or len(wanted) == len(recipients):
        raise _reset(smtp, _refusal(mail, wanted, sender))
    if data is None:
        data = smtp.docmd("data")
    if data[0] != 354:
        raise _reset(smtp, smtplib.SMTPDataError(*data))
    body = re.sub(rb"(?m)^\.", b"..", message)  # dot-stuffing, as smtplib does
    smtp.send(body + (b"" if body.endswith(b"\r\n") else b"\r\n") + b".\r\n")
    end = smtp.getreply()
    if end[0] != 250:
        raise _reset(smtp, smtplib.SMTPDataError(*end))
    if copy_to in refused:
        log.warning("the mail server refused the mailbox's own copy (%s): a send interrupted before its "
                    "copy in Sent could not be told from one never sent", refused[copy_to][0])
    return wanted


def _refusal(mail: tuple[int, bytes], refused: dict[str, tuple[int, bytes]],
             sender: str) -> smtplib.SMTPException:
    if mail[0] != 250:
        return smtplib.SMTPSenderRefused(mail[0], mail[1], sender)
    return smtplib.SMTPRecipientsRefused(refused)


def _reset(smtp: smtplib.SMTP, refusal: smtplib.SMTPException) -> smtplib.SMTPException:
    """RSET before reporting a refusal, as sendmail does, and like it ignore a server that has hung
    up by then: the refusal is the answer, not a dropped connection to be tried again."""
    with contextlib.suppress(smtplib.SMTPServerDisconnected):
        smtp.rset()
    return refusal


def _sizes(imap: imaplib.IMAP4, uids: list[str]) -> dict[str, int]:
    """RFC822.SIZE of each of these messages still in the selected folder."""
    _, data = imap.uid("FETCH", ",".join(uids), "(RFC822.SIZE)")
    return {uid.group(1).decode(): int(size.group(1)) for line in data if isinstance(line, bytes)
            and (uid := _UID.search(line)) and (size := _SIZE.search(line))}


def _fetch_one(imap: imaplib.IMAP4, uid: str) -> bytes | None:
    _, data = imap.uid("FETCH", uid, "(BODY.PEEK[])")
    parts = [d for d in data if isinstance(d, tuple)]
    return parts[0][1] if parts else None


def _append(imap: imaplib.IMAP4, folder: str, message: bytes) -> None:
    """APPEND with the \\Seen flag. Where the server offers LITERAL+ (RFC 7888) the command and the
    message go in one write, without waiting for the server's go-ahead between them: one round trip
    instead of two for every copy kept in Sent."""
    # The selected folder's news ("* 5 EXISTS") would pile up in imaplib for every copy: dropped.
    for news in ("EXISTS", "RECENT"):
        imap.untagged_responses.pop(news, None)
    if "LITERAL+" not in imap.capabilities:
        imap.append(folder, r"(\Seen)", None, message)
        return
    literal = imaplib.MapCRLF.sub(b"\r\n", message)
    tag = imap._new_tag()  # imaplib has no LITERAL+ (nor MULTIAPPEND) of its own
    imap.tagged_commands[tag] = None
    imap.send(b"%s APPEND %s (\\Seen) {%d+}\r\n%s\r\n" % (tag, folder.encode(), len(literal), literal))
    typ, _ = imap._command_complete("APPEND", tag)  # reads to the tagged answer
    if typ != "OK":  # sent all the same: sending again would be worse than a copy missing from Sent
        log.warning("the IMAP server refused to keep a copy of a sent message in %s", folder)


def _idle(imap: imaplib.IMAP4, seconds: float, timeout: float) -> None:
    """RFC 2177 IDLE on the selected INBOX until the server announces new mail or `seconds` pass.
    (imaplib gains idle() only in Python 3.14.) The socket is read directly, with select(), because
    a read that times out leaves imaplib's buffered reader unusable."""
    if "IDLE" not in imap.capabilities:
        time.sleep(min(seconds, 5.0))  # a server without IDLE: fall back to a short wait
        return
    sock = imap.sock
    tag = imap._new_tag()  # the tag must be unique on this connection
    lines = _SocketLines(sock)
    imap.send(tag + b" IDLE\r\n")
    first = lines.next(timeout)
    if first is None or not first.startswith(b"+"):
        raise imaplib.IMAP4.abort("the server refused IDLE")
    deadline = time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        line = lines.next(remaining)
        if line is None:
            break
        if line.startswith(b"*") and (b"EXISTS" in line or b"RECENT" in line):
            break
    imap.send(b"DONE\r\n")
    while True:  # untagged updates, then the tagged end of IDLE; nothing follows it
        line = lines.next(timeout)
        if line is None:
            raise imaplib.IMAP4.abort("no answer to DONE")
        if line.startswith(tag):
            return


class _SocketLines:
    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buffer = sock, b""

    def next(self, wait: float) -> bytes | None:
        """The next CRLF-ended line, or None if none arrives within `wait` seconds."""
        deadline = time.monotonic() + wait
        while b"\r\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            pending = getattr(self.sock, "pending", lambda: 0)()  # TLS may hold decrypted bytes
            if not pending and (remaining <= 0 or not select.select([self.sock], [], [], remaining)[0]):
                return None
            chunk = self.sock.recv(65536)
            if not chunk:
                raise imaplib.IMAP4.abort("the connection closed during IDLE")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line


FETCH_GROUP_BYTES = 32 * 1024 * 1024
_UID = re.compile(rb"\bUID (\d+)")
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")
_INTERNALDATE = re.compile(rb'\bINTERNALDATE "([^"]+)"')
_MONTHS = {m: n for n, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                                       "Nov", "Dec"), start=1)}


def _internaldate(text: bytes) -> datetime:
    """RFC 3501 date-time ("dd-Mon-yyyy hh:mm:ss +zzzz", the day maybe space-padded), not by the
    locale's month names as strptime would."""
    day, month, rest = text.decode("ascii").strip().split("-", 2)
    year, clock, zone = rest.split(" ")
    hour, minute, second = (int(x) for x in clock.split(":"))
    sign = -1 if zone[0] == "-" else 1
    offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5]))
    return datetime(int(year), _MONTHS[month.title()], int(day), hour, minute, second,
                    tzinfo=timezone(sign * offset))


def _groups(uids: list[str], sizes: dict[str, int], limit: int) -> list[list[str]]:
    """Consecutive groups of uids whose sizes add up to at most `limit` (a larger message alone)."""
    groups: list[list[str]] = []
    total = limit
    for uid in uids:
        if total + sizes[uid] > limit:
            groups.append([])
            total = 0
        groups[-1].append(uid)
        total += sizes[uid]
    return groups


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
