"""Open the mailbox the configuration names. Secrets come from the environment, never from YAML."""

from __future__ import annotations

import os
from pathlib import Path

from safeguard.config import Config, ConfigError
from safeguard.mail.graph import GraphMailbox, GraphSettings, MemoryState, StateStore
from safeguard.mail.imap_smtp import ImapSmtpMailbox, ImapSmtpSettings
from safeguard.mail.maildir import MaildirMailbox
from safeguard.mail.port import Mailbox


def open_mailbox(config: Config, state: StateStore | None = None) -> Mailbox:
    """`state` keeps adapter sync state (Graph's delta link) across restarts: the register's."""
    box = config.settings.mailbox
    address = config.settings.service.mailbox_address
    if box.adapter == "maildir":
        deliver = Path(box.maildir.deliver_to) if box.maildir.deliver_to else None
        return MaildirMailbox(Path(box.maildir.path), address, deliver)
    if box.adapter == "graph":
        graph = box.graph
        assert graph is not None
        secret = os.environ.get(graph.client_secret_env)
        if not secret:
            raise ConfigError(f"settings.yaml: mailbox.graph.client_secret_env: the environment variable "
                              f"{graph.client_secret_env} is not set. Set it to the application's client secret.")
        return GraphMailbox(GraphSettings(address=address, tenant_id=graph.tenant_id, client_id=graph.client_id,
                                          client_secret=secret, authority=graph.authority, graph_url=graph.graph_url),
                            state or MemoryState())
    imap = box.imap
    assert imap is not None  # the settings model guarantees it for adapter "imap"
    password = os.environ.get(imap.password_env)
    if password is None:
        raise ConfigError(f"settings.yaml: mailbox.imap.password_env: the environment variable "
                          f"{imap.password_env} is not set. Set it to the mailbox password.")
    return ImapSmtpMailbox(ImapSmtpSettings(
        address=address, host=imap.host, port=imap.port, username=imap.username, password=password,
        ssl=imap.ssl, smtp_host=imap.smtp_host, smtp_port=imap.smtp_port, smtp_starttls=imap.smtp_starttls,
        smtp_username=imap.smtp_username,
    ))
