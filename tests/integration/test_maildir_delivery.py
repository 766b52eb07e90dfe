"""Maildir's deliver_to turns a recipient address into a folder name: only a plain address may, and
only into a folder directly under deliver_to. Anything else is refused for good (the outbox records
it as failed and never retries), and with deliver_to off, sent mail stays in Sent."""

from __future__ import annotations

import os
import string
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safeguard.adapters.config_files import load_config
from safeguard.adapters.mail.factory import open_mailbox
from safeguard.adapters.mail.maildir import MaildirMailbox, is_dot_atom_address
from safeguard.adapters.mail.port import Folder, PermanentMailboxError
from safeguard.adapters.notify.outbox import Sender, queue_email, send_entries
from safeguard.adapters.notify.render import Rendered
from safeguard.adapters.register.uow import UnitOfWork
from safeguard.domain.config import Config
from tests.conftest import NOW, ROOT

RAW = (b"From: safeguarding@example-icb.test\r\nTo: x@uhcw.test\r\nMessage-ID: <m1@example-icb.test>\r\n"
       b"\r\nhi\r\n")
ATEXT = string.ascii_letters + string.digits + "!#$%&'*+=?^_`{|}~-"  # RFC 5321 atext, less "/"


def everything_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def send(box: MaildirMailbox, *recipients: str) -> None:
    box.send(RAW, message_id="<m1@example-icb.test>", recipients=list(recipients))


@pytest.fixture
def site(tmp_path: Path) -> tuple[MaildirMailbox, Path]:
    """A mailbox delivering under tmp/jail/delivered, so that an escape lands somewhere we can see."""
    delivered = tmp_path / "jail" / "delivered"
    return MaildirMailbox(tmp_path / "jail" / "mail", "safeguarding@example-icb.test", delivered), tmp_path


@pytest.mark.parametrize("address", [
    "../../escaped@uhcw.test",
    "..@uhcw.test",
    "a/../../../escaped@uhcw.test",
    "escaped@../../uhcw.test",
    "escaped@uhcw.test/../../..",
    "x@..",
    "..",
    "a/b@uhcw.test",
    "nul\x00byte@uhcw.test",
    '"quoted local part"@uhcw.test',
    '"../../escaped"@uhcw.test',
    "jos\u00e9@uhcw.test",
    "no-at-sign.uhcw.test",
    "two@at@uhcw.test",
    ".leading-dot@uhcw.test",
    "trailing-dot.@uhcw.test",
    "x@[127.0.0.1]",
    "escaped@uhcw.test\n",
    "",
])
def test_a_recipient_address_that_is_not_a_plain_address_is_refused_and_nothing_is_written(
        site: tuple[MaildirMailbox, Path], address: str) -> None:
    box, tmp_path = site
    with pytest.raises(PermanentMailboxError) as refused:
        send(box, "safeguarding@uhcw.test", address)
    assert refused.value.retryable is False
    assert address not in str(refused.value) or not address  # the address itself is not repeated
    assert everything_under(tmp_path) == []  # not even the good recipient's copy, nor the Sent copy
    assert not (tmp_path / "escaped@uhcw.test").exists()


@pytest.mark.parametrize("inside", ["", "deep/er/"])
def test_an_absolute_path_as_an_address_is_refused(site: tuple[MaildirMailbox, Path], inside: str) -> None:
    box, tmp_path = site
    target = tmp_path / "outside" / inside
    with pytest.raises(PermanentMailboxError):
        send(box, f"{target}/escaped@uhcw.test")
    with pytest.raises(PermanentMailboxError):
        send(box, f"escaped@{target}")
    assert everything_under(tmp_path) == []


def test_a_recipient_folder_that_is_a_link_out_of_the_delivery_folder_is_refused(
        site: tuple[MaildirMailbox, Path]) -> None:
    box, tmp_path = site
    assert box.deliver_to is not None
    (tmp_path / "outside").mkdir()
    box.deliver_to.mkdir(parents=True)
    (box.deliver_to / "safeguarding@uhcw.test").symlink_to(tmp_path / "outside", target_is_directory=True)
    with pytest.raises(PermanentMailboxError):
        send(box, "safeguarding@uhcw.test")
    assert everything_under(tmp_path / "outside") == [] and box.list_folder(Folder.SENT) == []


def test_a_plain_address_is_delivered_into_its_own_folder_in_lower_case(
        site: tuple[MaildirMailbox, Path]) -> None:
    box, _ = site
    assert box.deliver_to is not None
    send(box, "Safeguarding.Team@UHCW.test", "o'brien+alerts@swft.test")
    assert [p.parent.parent.name for p in everything_under(box.deliver_to)] == [
        "o'brien+alerts@swft.test", "safeguarding.team@uhcw.test"]
    assert len(box.list_folder(Folder.SENT)) == 1


local_parts = st.lists(st.text(ATEXT, min_size=1, max_size=12), min_size=1, max_size=4).map(".".join)
labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
domains = st.lists(labels, min_size=1, max_size=3).map(".".join)


@settings(max_examples=150, deadline=None)
@given(local=local_parts, domain=domains)
def test_every_dot_atom_address_is_accepted_and_lands_directly_under_deliver_to(
        local: str, domain: str) -> None:
    address = f"{local}@{domain}"
    assert is_dot_atom_address(address)
    with tempfile.TemporaryDirectory() as tmp:
        delivered = Path(tmp) / "delivered"
        send(MaildirMailbox(Path(tmp) / "mail", "safeguarding@example-icb.test", delivered), address)
        [copy] = everything_under(delivered)
        assert copy.parent.parent == delivered.resolve() / address.lower() and copy.parent.name == "new"


@settings(max_examples=300, deadline=None)
@given(address=st.one_of(
    st.text(max_size=40),
    st.text(alphabet=ATEXT + "./@\x00\\\" []", max_size=40),
    st.builds("{}@{}".format, st.text(alphabet=ATEXT + "./\x00", max_size=15),
              st.text(alphabet=string.ascii_lowercase + "./-", max_size=15)),
))
def test_any_text_as_an_address_is_either_refused_or_kept_directly_under_deliver_to(address: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp).resolve()
        delivered = root / "jail" / "delivered"
        box = MaildirMailbox(root / "jail" / "mail", "safeguarding@example-icb.test", delivered)
        try:
            send(box, address)
        except PermanentMailboxError:
            assert not is_dot_atom_address(address)
            assert not delivered.exists() or everything_under(delivered) == []
            return
        assert is_dot_atom_address(address) and "/" not in address and "\x00" not in address
        [copy] = everything_under(delivered)
        assert copy.parent.parent.parent == delivered
        assert [p for p in everything_under(root) if not p.is_relative_to(root / "jail")] == []


def test_the_shipped_settings_leave_deliver_to_off_and_sent_mail_stays_in_sent(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SAFEGUARD_DELIVER_TO", raising=False)
    monkeypatch.setenv("SAFEGUARD_MAILDIR", str(tmp_path / "mail"))
    config = load_config(ROOT / "config")
    assert config.settings.mailbox.maildir.deliver_to is None
    box = open_mailbox(config)
    assert isinstance(box, MaildirMailbox) and box.deliver_to is None
    before = set(os.listdir(tmp_path))
    send(box, "safeguarding@uhcw.test", "../../not-a-path@uhcw.test")  # no folder is made from an address
    assert box.in_sent("<m1@example-icb.test>") and len(box.list_folder(Folder.SENT)) == 1
    assert set(os.listdir(tmp_path)) == before  # nothing beside the mailbox itself


def test_a_refused_address_is_recorded_as_failed_and_not_tried_again(
        config: Config, uow: Callable[[], UnitOfWork], site: tuple[MaildirMailbox, Path]) -> None:
    box, _ = site
    with uow() as u:
        entry = queue_email(u.register, key="edge:traversal", kind="reply:test",
                            rendered=Rendered("Subject", "text\n", "<p>text</p>"),
                            sender=Sender(config.settings.service.mailbox_address, "Safeguarding"),
                            recipients=["../../escaped@uhcw.test"], at=NOW)
        u.commit()
        entry_id = entry.id
    assert send_entries([entry_id], mailbox=box, uow=uow, now=lambda: NOW) == {entry_id: "failed"}
    assert send_entries([entry_id], mailbox=box, uow=uow, now=lambda: NOW) == {entry_id: "failed"}
    with uow() as u:
        [row] = u.register.outbox_entries_for_update([entry_id])
        assert (row.status, row.attempts) == ("failed", 1)
        assert "escaped" not in (row.last_error or "") and "not a plain address" in (row.last_error or "")


def test_a_folder_s_message_ids_are_read_once_and_follow_what_is_in_the_folder(tmp_path: Path) -> None:
    from safeguard.adapters.mail.maildir import ID_INDEX, deliver

    box = MaildirMailbox(tmp_path / "box", "safeguarding@example-icb.test")
    first = deliver(box.root, b"Message-ID: <one@example.test>\r\nSubject: a\r\n\r\nbody\r\n").name
    deliver(box.root, b"Message-ID: <two@example.test>\r\nSubject: b\r\n\r\nbody\r\n")
    box.move_many(box.list_new(), Folder.PROCESSED)
    assert sorted(box.message_ids(Folder.PROCESSED)) == ["<one@example.test>", "<two@example.test>"]
    index = tmp_path / "box" / ".Processed" / ID_INDEX
    assert index.read_text().count("\n") == 2  # names and ids only
    [moved] = (tmp_path / "box" / ".Processed").glob(f"*/{first}*")  # taken out of the folder
    moved.unlink()
    assert box.message_ids(Folder.PROCESSED) == ["<two@example.test>"]
    index.unlink()  # harmless: read again
    assert box.message_ids(Folder.PROCESSED) == ["<two@example.test>"]
