"""Open the mailbox the configuration names. Secrets come from the environment, never from YAML."""

from __future__ import annotations

import os
from pathlib import Path

from safeguard.adapters.config_files import ConfigError
from safeguard.adapters.mail.imap_smtp import ImapSmtpMailbox, ImapSmtpSettings
from safeguard.adapters.mail.maildir import MaildirMailbox
from safeguard.adapters.mail.port import Mailbox
from safeguard.adapters.mail.sync_state import MemoryState, StateStore
from safeguard.domain.config import Config


def open_mailbox(config: Config, state: StateStore | None = None) -> Mailbox:
    """`state` keeps adapter sync state (Graph's delta link) across restarts: the register's."""
    box = config.settings.mailbox
    address = config.settings.service.mailbox_address
    if box.adapter == "maildir":
        deliver = Path(box.maildir.deliver_to) if box.maildir.deliver_to else None
        return MaildirMailbox(Path(box.maildir.path), address, deliver)
    if box.adapter == "ews":
        return _ews(config, address, state)
    if box.adapter == "graph":
        from safeguard.adapters.mail.graph import (  # httpx loads only when Graph is chosen
            GraphMailbox,
            GraphSettings,
        )

        graph = box.graph
        assert graph is not None
        secret = _secret("graph.client_secret_env", graph.client_secret_env,
                         "the application's client secret")
        return GraphMailbox(GraphSettings(address=address, tenant_id=graph.tenant_id,
                                          client_id=graph.client_id, client_secret=secret,
                                          authority=graph.authority, graph_url=graph.graph_url),
                            state or MemoryState())
    imap = box.imap
    assert imap is not None  # the settings model guarantees it for adapter "imap"
    password = _secret("imap.password_env", imap.password_env, "the mailbox password")
    return ImapSmtpMailbox(ImapSmtpSettings(
        address=address, host=imap.host, port=imap.port, username=imap.username, password=password,
        ssl=imap.ssl, smtp_host=imap.smtp_host, smtp_port=imap.smtp_port, smtp_starttls=imap.smtp_starttls,
        smtp_username=imap.smtp_username, idle=imap.idle, copy_to_self=imap.copy_to_self,
    ))


def _secret(key: str, variable: str, what: str) -> str:
    value = os.environ.get(variable)
    if not value:
        raise ConfigError(f"settings.yaml: mailbox.{key}: the environment variable {variable} is not set. "
                          f"Set it to {what}.")
    return value


def _ews(config: Config, address: str, state: StateStore | None) -> Mailbox:
    from safeguard.adapters.mail.ews import (  # exchangelib loads only when EWS is chosen
        EwsMailbox,
        EwsSettings,
    )

    ews = config.settings.mailbox.ews
    assert ews is not None  # the settings model guarantees it for adapter "ews"
    if ews.auth == "oauth2":
        secret = _secret("ews.client_secret_env", ews.client_secret_env, "the application's client secret")
        settings = EwsSettings(address=address, endpoint=ews.endpoint, auth="oauth2", access=ews.access,
                               tenant_id=ews.tenant_id or "", client_id=ews.client_id or "",
                               client_secret=secret,
                               authority=ews.authority, max_wait=ews.max_wait_seconds)
    else:
        password = _secret("ews.password_env", ews.password_env, "the service account's password")
        settings = EwsSettings(address=address, endpoint=ews.endpoint, auth="ntlm", access=ews.access,
                               username=ews.username or "", password=password, max_wait=ews.max_wait_seconds)
    return EwsMailbox(settings, state or MemoryState())
