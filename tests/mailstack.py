"""Helpers for the real Dovecot + Postfix started by scripts/mailstack.sh, and a configuration
folder that points the product at it with addresses unique to one test."""

from __future__ import annotations

import imaplib
import os
import shutil
import smtplib
import time
import uuid
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.utils import parseaddr
from pathlib import Path

import yaml

from tests.conftest import ROOT

HOST, PASSWORD = "127.0.0.1", "test"
# The ports scripts/mailstack.sh listens on; the same variables start a second stack elsewhere.
IMAP_PORT = int(os.environ.get("MAILSTACK_IMAP_PORT", "10143"))
SMTP_PORT = int(os.environ.get("MAILSTACK_SMTP_PORT", "10025"))


def smtp_deliver(raw: bytes, to: str, sender: str) -> None:
    with smtplib.SMTP(HOST, SMTP_PORT, timeout=10) as smtp:
        smtp.sendmail(sender, [to], raw)


def read_inbox(address: str, expect: int, timeout: float = 10.0) -> list[bytes]:
    """Every message in address's INBOX over IMAP, waiting until at least `expect` have arrived."""
    deadline = time.monotonic() + timeout
    while True:
        imap = imaplib.IMAP4(HOST, IMAP_PORT)
        imap.login(address, PASSWORD)
        imap.select("INBOX", readonly=True)
        _, data = imap.uid("SEARCH", "ALL")
        uids = (data[0] or b"").split()
        messages = [imap.uid("FETCH", uid, "(BODY.PEEK[])")[1][0][1] for uid in uids]
        imap.logout()
        if len(messages) >= expect or time.monotonic() > deadline:
            return messages
        time.sleep(0.1)


def left_in_inbox(address: str) -> list[bytes]:
    """What waits in address's INBOX, less the mailbox's own copies of what it sent (the IMAP adapter
    makes the mailbox a recipient of each email it sends; the next intake run files them in Sent)."""
    return [m for m in read_inbox(address, 0, timeout=0)
            if parseaddr(str(BytesHeaderParser().parsebytes(m)["From"] or ""))[1] != address]


def folder_message_ids(address: str, folder: str) -> list[str]:
    """The Message-ID of every message in one of address's folders, over IMAP."""
    imap = imaplib.IMAP4(HOST, IMAP_PORT)
    try:
        imap.login(address, PASSWORD)
        if imap.select(folder, readonly=True)[0] != "OK":
            return []
        _, data = imap.uid("FETCH", "1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    finally:
        imap.logout()
    return [" ".join(part[1].decode().partition(":")[2].split()) for part in data if isinstance(part, tuple)]


@dataclass(frozen=True)
class StackConfig:
    """A config folder for one test: its own safeguarding mailbox, providers and people."""

    directory: Path
    mailbox: str
    admin: str
    approver: str
    social_worker: str
    providers: dict[str, str]  # code -> mailbox


def stack_config(tmp_path: Path, register_url: str, graph_url: str | None = None,
                 ews_url: str | None = None) -> StackConfig:
    """With `graph_url`, the mailbox is the Graph adapter against tests/graphsim.py at that URL
    (tenant-1 / app-1, secret in SAFEGUARD_GRAPH_CLIENT_SECRET); with `ews_url`, the EWS adapter
    against tests/ewssim.py (secret in SAFEGUARD_EWS_CLIENT_SECRET); otherwise IMAP+SMTP."""
    tag = uuid.uuid4().hex[:8]
    directory = tmp_path / "config"
    shutil.copytree(ROOT / "config", directory)
    settings = yaml.safe_load((directory / "settings.yaml").read_text())
    service = settings["service"]
    service["mailbox_address"] = mailbox = f"safeguarding-{tag}@example-icb.test"
    service["admin_team"] = admin = f"admin-{tag}@example-icb.test"
    service["approvers"] = [{"name": "Dana Nightingale", "email": f"approver-{tag}@example-icb.test",
                             "role": "designated_nurse"},
                            {"name": "Sam Okafor", "email": f"approver2-{tag}@example-icb.test",
                             "role": "checker"}]
    settings["mailbox"] = {"adapter": "imap", "imap": {
        "host": HOST, "port": IMAP_PORT, "ssl": False, "username": mailbox,
        "password_env": "SAFEGUARD_IMAP_PASSWORD",
        "smtp_host": HOST, "smtp_port": SMTP_PORT, "smtp_starttls": False}}
    if graph_url:
        settings["mailbox"] = {"adapter": "graph", "graph": {
            "tenant_id": "tenant-1", "client_id": "app-1",
            "client_secret_env": "SAFEGUARD_GRAPH_CLIENT_SECRET",
            "authority": graph_url, "graph_url": f"{graph_url}/v1.0"}}
    if ews_url:
        settings["mailbox"] = {"adapter": "ews", "ews": {
            "endpoint": f"{ews_url}/EWS/Exchange.asmx", "tenant_id": "tenant-1", "client_id": "app-1",
            "client_secret_env": "SAFEGUARD_EWS_CLIENT_SECRET", "authority": ews_url}}
    settings["register"] = {"url": register_url}
    (directory / "settings.yaml").write_text(yaml.safe_dump(settings))
    directory_yaml = yaml.safe_load((directory / "providers.yaml").read_text())
    for provider in directory_yaml["providers"]:
        local, _, domain = provider["mailbox"].partition("@")
        provider["mailbox"] = f"{local}-{tag}@{domain}"
    (directory / "providers.yaml").write_text(yaml.safe_dump(directory_yaml))
    return StackConfig(directory, mailbox, admin, service["approvers"][0]["email"],
                       f"sw-{tag}@coventry-council.test",
                       {p["code"]: p["mailbox"] for p in directory_yaml["providers"]})
