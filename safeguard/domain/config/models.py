"""The shape of the configuration, one model per YAML file."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from safeguard.domain.config.base import Email, Strict, _check_address
from safeguard.domain.config.fgm import FgmSettings


class Provider(Strict):
    code: str = Field(pattern=r"^[A-Z0-9]{3,10}$")
    name: str
    type: Literal["acute trust", "community trust", "mental health trust", "ambulance service",
                  "GP practice", "other"]
    mailbox: Email
    secure: bool

    _mailbox = field_validator("mailbox")(_check_address)

    @property
    def domain(self) -> str:
        return self.mailbox.partition("@")[2]


class Directory(Strict):
    providers: list[Provider]

    @model_validator(mode="after")
    def _codes_unique(self) -> Directory:
        seen: set[str] = set()
        for p in self.providers:
            if p.code in seen:
                raise ValueError(f"provider code {p.code} appears twice")
            seen.add(p.code)
        return self


class AlertType(Strict):
    name: str
    max_lifetime_days: int = Field(gt=0, le=3660)
    # Approval in stages, each by an approver of that role (settings.yaml service.approvers), in
    # order; notices go only after the last. Empty: one approval by any listed approver.
    approval_stages: list[str] = []


class AlertTypes(Strict):
    alert_types: list[AlertType]


class SenderAuthentication(Strict):
    """Who vouches that a message's From line is true: the site's own mail gateway, in an
    Authentication-Results header (RFC 8601) it stamped. Anything else is quarantined."""

    required: bool = True  # false only in a lab: `safeguard config check` warns loudly
    # authserv-ids of the site's own boundary gateways; a header naming any other id is ignored,
    # since a sender can add Authentication-Results headers of its own.
    trusted_authserv_ids: list[str] = []
    # Exchange Online (and so NHSmail) stamps Authentication-Results with no authserv-id. With
    # this on, the topmost such header counts, and only in a message that carries the
    # X-MS-Exchange-Organization-AuthAs header, which Exchange removes from mail arriving from
    # outside the organisation and writes itself (docs/email-trust.md).
    exchange_online: bool = False

    @field_validator("trusted_authserv_ids")
    @classmethod
    def _ids(cls, v: list[str]) -> list[str]:
        return [i.strip().lower() for i in v if i.strip()]

    @model_validator(mode="after")
    def _something_trusted(self) -> SenderAuthentication:
        if self.required and not self.trusted_authserv_ids and not self.exchange_online:
            raise ValueError("required is true but no gateway is trusted: list the site's gateway in "
                             "trusted_authserv_ids, or set exchange_online: true")
        return self


class Approver(Strict):
    """Someone who may approve or reject alerts: chosen by name in the Prefect form, named by
    `--by` on the command line, and answering approval emails from this address."""

    name: str = Field(min_length=2, max_length=200)
    email: Email
    role: str | None = None  # the approval stage they give (alert_types.yaml approval_stages)

    _email = field_validator("email")(_check_address)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return " ".join(v.split())


class Service(Strict):
    name: str
    mailbox_address: Email
    admin_team: Email
    approvers: list[Approver] = []  # nobody else may approve or reject an alert
    designated_nurse: Email | None = None  # told when a review date passes (default: the admin team)
    prefect_ui_url: str = "http://127.0.0.1:4200"
    timezone: str = "Europe/London"
    reference_prefix: str = Field(default="HSA", pattern=r"^[A-Z]{2,5}$")
    authorised_sender_domains: list[str] = Field(min_length=1)
    secure_domains: list[str] = ["nhs.net"]
    insecure_recipients: Literal["refuse", "marker"] = "refuse"
    secure_subject_marker: str = "[secure]"
    sender_authentication: SenderAuthentication  # no default: a site must say which gateway it trusts
    # A WITHDRAW by email waits for the safeguarding team's decision in the Prefect UI (true), or
    # takes effect at once with the social worker and team manager on record both told (false).
    withdrawal_needs_approval: bool = True

    _addr = field_validator("mailbox_address", "admin_team")(_check_address)

    @field_validator("designated_nurse")
    @classmethod
    def _nurse(cls, v: str | None) -> str | None:
        return _check_address(v) if v else None

    @field_validator("approvers")
    @classmethod
    def _approvers(cls, v: list[Approver]) -> list[Approver]:
        for kind, values in (("name", [a.name.lower() for a in v]), ("email", [a.email for a in v])):
            if twice := sorted({x for x in values if values.count(x) > 1}):
                raise ValueError(f"approver {kind} {twice[0]} appears twice")
        return v

    @property
    def approver_addresses(self) -> list[str]:
        return [a.email for a in self.approvers]

    def approver_named(self, name: str) -> Approver | None:
        wanted = " ".join(name.split()).lower()
        return next((a for a in self.approvers if a.name.lower() == wanted), None)

    def approver_by_email(self, address: str) -> Approver | None:
        wanted = address.strip().lower()
        return next((a for a in self.approvers if a.email == wanted), None)

    @field_validator("authorised_sender_domains", "secure_domains")
    @classmethod
    def _domains(cls, v: list[str]) -> list[str]:
        return [d.strip().lower().lstrip("@") for d in v]


class Limits(Strict):
    max_message_mb: float = Field(default=40, gt=0)
    max_attachment_mb: float = Field(default=25, gt=0)
    max_unzipped_mb: float = Field(default=50, gt=0)
    max_zip_ratio: int = Field(default=100, gt=1)
    max_body_lines: int = Field(default=2000, gt=10)
    batch_size: int = Field(default=200, gt=0)
    # Processes that share a backlog (IMAP and Maildir; Graph and EWS use one). One per CPU core.
    intake_workers: int = Field(default=2, ge=1, le=16)
    many_providers_warning: int = Field(default=4, gt=0)  # the approval form warns above this many
    # Bounded input (docs/bounded-input.md): what one message may cost before it is quarantined.
    max_sheets: int = Field(default=20, gt=0)  # visible sheets read from one workbook
    max_xml_mb: float = Field(default=50, gt=0)  # XML parsed from one attachment, all its parts together
    reader_seconds: float = Field(default=10, gt=0)  # wall-clock time to read one attachment
    reader_memory_mb: int = Field(default=768, ge=128)  # address space of the process that reads attachments
    chunk_mb: float = Field(default=64, gt=0)  # message bytes held by one intake process at once
    max_deferrals: int = Field(default=3, ge=1)  # a message left in INBOX this often is quarantined
    inbox_stale_minutes: int = Field(default=60, gt=0)  # the nightly digest lists INBOX mail older than this
    # Photos sent with a form (docs/health-alert-form.md): how many, how large, how many pixels.
    max_photos: int = Field(default=4, ge=1, le=20)
    max_photo_mb: float = Field(default=10, gt=0)
    max_photo_megapixels: float = Field(default=40, gt=0)  # a larger image is refused before it is decoded


class MaildirSettings(Strict):
    path: Path = Path("var/mail/safeguarding")
    deliver_to: Path | None = None  # off: sent mail stays in .Sent (the demo turns it on)


class ImapSettings(Strict):
    host: str = "127.0.0.1"
    port: int = 993
    ssl: bool = True
    username: str
    password_env: str = "SAFEGUARD_IMAP_PASSWORD"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_username: str | None = None
    idle: bool = False
    # The mailbox is one more recipient of each email it sends, so that one sent just before a
    # crash, whose copy in Sent was never made, is not sent again (intake files the copy in Sent).
    copy_to_self: bool = True


class GraphConfig(Strict):
    tenant_id: str = Field(min_length=1)
    client_id: str = Field(min_length=1)
    client_secret_env: str = "SAFEGUARD_GRAPH_CLIENT_SECRET"  # the secret itself is never in YAML
    authority: str = "https://login.microsoftonline.com"
    graph_url: str = "https://graph.microsoft.com/v1.0"


class EwsConfig(Strict):
    """Exchange Web Services: Exchange Server on premises, or Exchange Online until EWS is switched
    off there (phased from 1 October 2026, permanent 1 April 2027; use `graph` for Exchange Online)."""

    endpoint: str = Field(min_length=1)  # e.g. https://mail.example-trust.nhs.uk/EWS/Exchange.asmx
    auth: Literal["oauth2", "ntlm"] = "oauth2"
    access: Literal["impersonation", "delegate"] = "impersonation"
    tenant_id: str | None = None  # oauth2
    client_id: str | None = None  # oauth2
    client_secret_env: str = "SAFEGUARD_EWS_CLIENT_SECRET"  # oauth2: the secret itself is never in YAML
    authority: str = "https://login.microsoftonline.com"
    username: str | None = None  # ntlm: DOMAIN\\user or user@domain
    password_env: str = "SAFEGUARD_EWS_PASSWORD"  # ntlm: the password itself is never in YAML
    max_wait_seconds: float = Field(default=300, gt=0)  # the longest single back-off we accept from Exchange

    @model_validator(mode="after")
    def _auth_has_its_settings(self) -> EwsConfig:
        if self.auth == "oauth2" and not (self.tenant_id and self.client_id):
            raise ValueError("auth is 'oauth2' but tenant_id or client_id is missing")
        if self.auth == "ntlm" and not self.username:
            raise ValueError("auth is 'ntlm' but username is missing")
        return self


class MailboxSettings(Strict):
    adapter: Literal["maildir", "imap", "graph", "ews"] = "maildir"
    # How often the intake watcher looks for new mail (IMAP with `idle: true` is told at once instead).
    # Cheap in every mode: one LIST/SEARCH, Graph delta or EWS sync that finds nothing new.
    poll_seconds: float = Field(default=2, gt=0, le=60)
    maildir: MaildirSettings = MaildirSettings()
    imap: ImapSettings | None = None
    graph: GraphConfig | None = None
    ews: EwsConfig | None = None

    @model_validator(mode="after")
    def _adapter_has_settings(self) -> MailboxSettings:
        if self.adapter in ("imap", "graph", "ews") and getattr(self, self.adapter) is None:
            raise ValueError(f"adapter is '{self.adapter}' but there is no '{self.adapter}:' section")
        return self


class RegisterSettings(Strict):
    url: str = "sqlite:///var/register.sqlite3"


class ReturnsSettings(Strict):
    output_dir: Path = Path("var/returns")  # where the monthly workbooks are written


class RetentionSettings(Strict):
    # Personal data of an alert withdrawn or rejected longer ago than this is erased nightly
    # (0 keeps it). Counts, dates and the audit chain stay.
    closed_alert_personal_data_days: int = Field(default=730, ge=0)
    # Mail in Processed, Rejected, Quarantine and Sent older than this is deleted nightly, once the
    # register holds the message's outcome (0 keeps it). INBOX is never touched.
    mail_days: int = Field(default=90, ge=0)


class ExportsSettings(Strict):
    # Audit and subject-access exports go here by default; files in it, and the returns in
    # returns.output_dir, older than retention_days are removed nightly (0 keeps them).
    folder: Path = Path("var/exports")
    retention_days: int = Field(default=30, ge=0)


class FailoverSettings(Strict):
    """Several hosts (or containers) sharing one register: a process renews its claims (outbox
    entries it is sending, the mailbox watcher's lease) every heartbeat_seconds while it lives; a
    claim not renewed for lease_seconds is its holder's death, and another host takes it over (an
    email looked for in Sent first, so it is never sent twice). Hosts' clocks must agree (NTP)."""

    heartbeat_seconds: float = Field(default=5, gt=0, le=60)
    lease_seconds: float = Field(default=30, gt=0, le=600)

    @model_validator(mode="after")
    def _lease_outlasts_beats(self) -> FailoverSettings:
        if self.lease_seconds < 3 * self.heartbeat_seconds:
            raise ValueError("lease_seconds must be at least three heartbeat_seconds, or a live holder "
                             "that misses one beat would be taken for dead")
        return self


class Settings(Strict):
    service: Service
    limits: Limits = Limits()
    mailbox: MailboxSettings = MailboxSettings()
    # "register" would shadow pydantic's BaseModel.register, hence the alias.
    register_db: RegisterSettings = Field(default=RegisterSettings(), alias="register")
    returns: ReturnsSettings = ReturnsSettings()
    retention: RetentionSettings = RetentionSettings()
    exports: ExportsSettings = ExportsSettings()
    failover: FailoverSettings = FailoverSettings()

    @model_validator(mode="after")
    def _exchange_mailbox(self) -> Settings:
        if self.service.sender_authentication.exchange_online and self.mailbox.adapter == "maildir":
            raise ValueError("service.sender_authentication.exchange_online is true but the mailbox "
                             "adapter is maildir: Exchange's organisation headers are only believed in mail "
                             "read from Exchange (graph, ews or imap)")
        return self


Weekday = Literal["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
WEEKDAYS: tuple[str, ...] = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")


class Timescales(Strict):
    provider_ack_chase_working_days: int = Field(default=1, ge=0)
    provider_ack_escalate_working_days: int = Field(default=2, ge=0)
    review_reminder_working_days_before: int = Field(default=3, ge=0)
    unborn_reminder_days_after_edd: int = Field(default=14, ge=0)
    invalid_resubmit_nudge_working_days: int = Field(default=1, ge=0)
    # An alert waiting longer than this for approval: the approvers are emailed; after twice as
    # long, the Designated Nurse (service.designated_nurse, else the admin team).
    approval_wait_limit_hours: float = Field(default=4, gt=0)
    urgent_approval_wait_limit_hours: float = Field(default=1, gt=0)  # the same, for urgent alerts
    # No longer used (a waiting alert holds no process and simply waits); accepted so that older
    # timescales.yaml files still load.
    approval_timeout_days: int = Field(default=14, gt=0)
    # the weekly "alerts you hold" digest to each provider (the next working day if a holiday); null: none
    digest_weekday: Weekday | None = "Monday"
    # the working day after a review date passes with the alert still active: tell each holding
    # provider "active pending review: keep the flag" (notify), or withdraw it the usual way (withdraw)
    on_review_lapse: Literal["notify", "withdraw"] = "notify"

    # End of life (calendar days after the review date, no answer): escalate to the team manager,
    # Designated Nurse and admin team, then close the alert (withdrawn, providers told). 0 = never.
    review_passed_escalate_days: int = Field(default=0, ge=0)
    review_passed_close_days: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _close_after_escalation(self) -> Timescales:
        escalate, close = self.review_passed_escalate_days, self.review_passed_close_days
        if close and not (escalate and close > escalate):
            raise ValueError("review_passed_close_days needs review_passed_escalate_days set, and must be "
                             "more days after the review date (people are told before an alert is closed)")
        return self

    def approval_wait_limit(self, urgent: bool) -> timedelta:
        hours = self.urgent_approval_wait_limit_hours if urgent else self.approval_wait_limit_hours
        return timedelta(hours=hours)


class Config(BaseModel):
    """Everything the product reads from config/, plus where it was read from."""

    model_config = ConfigDict(frozen=True)

    directory: Path
    settings: Settings
    providers: list[Provider]
    alert_types: list[AlertType]
    timescales: Timescales
    fgm: FgmSettings

    def provider(self, code: str) -> Provider | None:
        return next((p for p in self.providers if p.code == code.strip().upper()), None)

    @property
    def timezone(self) -> ZoneInfo:
        """The service's time zone (settings.yaml service.timezone): the one place it is built."""
        return ZoneInfo(self.settings.service.timezone)  # ZoneInfo keeps one instance per key

    def local(self, instant: datetime) -> datetime:
        """An aware instant as the service's local wall-clock time."""
        return instant.astimezone(self.timezone)

    def local_date(self, instant: datetime) -> date:
        """The service's calendar date at this instant (what "today" means for reminders and forms)."""
        return self.local(instant).date()

    def warnings(self) -> list[str]:
        """Settings that are valid but unsafe outside a lab, in words for `config check` and the logs."""
        found = []
        if not self.settings.service.sender_authentication.required:
            found.append("settings.yaml service.sender_authentication.required is false: any email's From "
                         "line is believed, so anyone can withdraw or change an alert by forging it. Use "
                         "this only in a lab, never with a real mailbox.")
        approvers = self.settings.service.approvers
        if not approvers:
            found.append("settings.yaml service.approvers is empty: nobody can approve an alert. List each "
                         "approver's name and email.")
        roles = {a.role for a in approvers}
        for kind in self.alert_types:
            for stage in kind.approval_stages:
                if stage not in roles:
                    found.append(f"alert_types.yaml: {kind.name} needs approval stage '{stage}', but no "
                                 f"approver in settings.yaml has role: {stage}, so those alerts cannot be "
                                 "approved.")
        return found

    def provider_by_address(self, address: str) -> Provider | None:
        address = address.strip().lower()
        return next((p for p in self.providers if p.mailbox == address), None)

    def alert_type(self, name: str) -> AlertType | None:
        return next((t for t in self.alert_types if t.name.lower() == name.strip().lower()), None)

    def is_authorised_sender(self, address: str) -> bool:
        domain = address.strip().lower().rpartition("@")[2]
        return domain in self.settings.service.authorised_sender_domains

    def is_secure_address(self, address: str) -> bool:
        """On nhs.net or a listed DCB1596-accredited domain (or a subdomain of one)."""
        domain = address.strip().lower().rpartition("@")[2]
        return any(domain == d or domain.endswith("." + d) for d in self.settings.service.secure_domains)

    def longest_review_date(self, alert_type: str, created_on: date) -> date | None:
        """The latest review date an alert of this type, created on that day, may have."""
        kind = self.alert_type(alert_type)
        return created_on + timedelta(days=kind.max_lifetime_days) if kind else None
