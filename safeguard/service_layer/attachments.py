"""Reading a message's office attachment before triage: in this process's reader process, bounded in
time and memory (safeguard/adapters/workbooks/reader.py), so that the rules then work on plain tables."""

from __future__ import annotations

import dataclasses

from safeguard.adapters.mail.inbound import parse_inbound
from safeguard.adapters.workbooks.ooxml import Limits
from safeguard.adapters.workbooks.reader import ReaderLimits, reader_for
from safeguard.domain.config import Config
from safeguard.domain.fgm import MAX_RECORDS
from safeguard.domain.forms.document import OFFICE_KINDS
from safeguard.domain.message import Inbound

MB = 1024 * 1024


def read_ahead(inbound: Inbound, config: Config) -> Inbound:
    """Read the message's one xlsx or docx (the only attachment triage may open), and re-encode its
    photos, in this process's reader process, bounded in time and memory
    (safeguard/adapters/workbooks/reader.py), and keep what it made on each attachment for triage.
    Nothing to do for a message triage quarantines unread."""
    if inbound.header_faults:
        return inbound
    limits = config.settings.limits
    reader = reader_for(ReaderLimits(limits.reader_seconds, limits.reader_memory_mb))
    office = [i for i, a in enumerate(inbound.attachments)
              if a.extension in OFFICE_KINDS and a.size <= limits.max_attachment_mb * MB]
    if len(office) == 1:
        attachment = inbound.attachments[office[0]]
        document = reader.read(attachment.extension, attachment.data, zip_limits(config), MAX_RECORDS + 1)
        inbound.attachments[office[0]] = dataclasses.replace(attachment, document=document)
    photos = inbound.photos()[:limits.max_photos]  # more is a problem: those are not read
    for i, attachment in enumerate(inbound.attachments):
        if any(attachment is p for p in photos) and attachment.size <= limits.max_photo_mb * MB:
            photo = reader.read_photo(attachment.data, int(limits.max_photo_megapixels * 1_000_000))
            inbound.attachments[i] = dataclasses.replace(attachment, photo=photo)
    return inbound


def zip_limits(config: Config) -> Limits:
    limits = config.settings.limits
    return Limits(int(limits.max_unzipped_mb * MB), limits.max_zip_ratio, limits.max_sheets,
                  int(limits.max_xml_mb * MB))


def read_message(raw: bytes, config: Config) -> Inbound:
    """A whole message as triage needs it: parsed (an attachment too large to be read is not even
    decoded), and its office attachment read ahead."""
    return read_ahead(parse_inbound(raw, int(config.settings.limits.max_attachment_mb * MB)), config)
