#!/usr/bin/env bash
# Real Dovecot (IMAP + LMTP) and Postfix (SMTP) on high loopback ports, for the tests and benchmarks.
# Postfix accepts mail for any *.test domain on 127.0.0.1:10025 and hands it to Dovecot over LMTP;
# Dovecot serves every *.test address over IMAP on 127.0.0.1:10143. Every user's password is
# $MAILSTACK_PASSWORD (default "test"). Loopback only: nothing here is reachable from outside.
#
#   scripts/mailstack.sh start   install (apt) if needed, write config, start; idempotent
#   scripts/mailstack.sh stop
#   scripts/mailstack.sh status
set -euo pipefail

ROOT=${MAILSTACK_ROOT:-/var/lib/safeguard-mailstack}
IMAP_PORT=${MAILSTACK_IMAP_PORT:-10143}
SMTP_PORT=${MAILSTACK_SMTP_PORT:-10025}
LMTP_PORT=${MAILSTACK_LMTP_PORT:-10024}
PASSWORD=${MAILSTACK_PASSWORD:-test}
PF="$ROOT/postfix"

install_packages() {
  if command -v dovecot >/dev/null && [ -x /usr/lib/dovecot/lmtp ] && command -v postfix >/dev/null; then return; fi
  echo "mailstack: installing dovecot and postfix from Debian" >&2
  export DEBIAN_FRONTEND=noninteractive
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get update -qq >/dev/null
  apt-get install -y -qq dovecot-imapd dovecot-lmtpd postfix >/dev/null
}

write_dovecot() {
  mkdir -p "$ROOT/mail" "$ROOT/dovecot-run" "$ROOT/dovecot-state"
  chown -R mail:mail "$ROOT/mail"
  cat > "$ROOT/dovecot.conf" <<CONF
base_dir = $ROOT/dovecot-run
state_dir = $ROOT/dovecot-state
log_path = $ROOT/dovecot.log
protocols = imap lmtp
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 8
mail_uid = mail
mail_gid = mail
mail_location = maildir:$ROOT/mail/%d/%n
mail_max_userip_connections = 200
default_login_user = dovenull
default_internal_user = dovecot
passdb {
  driver = static
  args = password=$PASSWORD
}
userdb {
  driver = static
  args = uid=mail gid=mail home=$ROOT/mail/%d/%n allow_all_users=yes
}
namespace inbox {
  inbox = yes
  separator = /
  mailbox Sent {
    special_use = \\Sent
    auto = create
  }
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    port = 0
  }
  process_min_avail = 2
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $LMTP_PORT
  }
}
protocol lmtp {
  postmaster_address = postmaster@safeguard.test
}
protocol imap {
  mail_max_userip_connections = 200
}
CONF
}

write_postfix() {
  mkdir -p "$PF/conf" "$PF/queue" "$PF/data"
  cat > "$PF/conf/main.cf" <<CONF
compatibility_level = 3.6
queue_directory = $PF/queue
data_directory = $PF/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mail.safeguard.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
# Tests need refusals: any local part starting "refuse-", and anything outside *.test (never relayed).
smtpd_recipient_restrictions = check_recipient_access regexp:$PF/conf/recipient_access, permit_mynetworks, reject
virtual_mailbox_domains = regexp:$PF/conf/virtual_domains
virtual_transport = lmtp:inet:127.0.0.1:$LMTP_PORT
maillog_file = $ROOT/postfix.log
message_size_limit = 80000000
in_flow_delay = 0
smtputf8_enable = no
biff = no
alias_maps =
alias_database =
local_recipient_maps =
smtpd_client_connection_count_limit = 200
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
lmtp_destination_concurrency_limit = 20
default_process_limit = 100
CONF
  printf '/\\.test$/ OK\n' > "$PF/conf/virtual_domains"
  printf '/^refuse-/ REJECT 5.1.1 Recipient refused (test)\n!/\\.test$/ REJECT 5.7.1 Only .test domains here\n' \
    > "$PF/conf/recipient_access"
  # Debian's master.cf, with the SMTP listener moved to a loopback high port and no chroot
  # (the queue lives outside /var/spool/postfix).
  awk -v port="$SMTP_PORT" '
    /^#/ || /^[ \t]/ || NF < 8 { print; next }
    $1 == "smtp" && $2 == "inet" { $1 = "127.0.0.1:" port }
    { $5 = "n"; print }' /etc/postfix/master.cf.proto > "$PF/conf/master.cf"
  if ! grep -q "^alternate_config_directories.*$PF/conf" /etc/postfix/main.cf 2>/dev/null; then
    touch /etc/postfix/main.cf
    postconf -c /etc/postfix -e "alternate_config_directories = $PF/conf"
  fi
  postfix -c "$PF/conf" set-permissions >/dev/null 2>&1 || true
}

wait_port() {
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "mailstack: nothing is listening on 127.0.0.1:$1; see $ROOT/*.log" >&2
  return 1
}

start() {
  install_packages
  if [ ! -f "$ROOT/dovecot.conf" ] || [ "${MAILSTACK_REWRITE:-0}" = 1 ]; then write_dovecot; fi
  write_postfix
  if ! doveadm -c "$ROOT/dovecot.conf" who >/dev/null 2>&1; then dovecot -c "$ROOT/dovecot.conf"; fi
  if postfix -c "$PF/conf" status >/dev/null 2>&1; then postfix -c "$PF/conf" reload >/dev/null 2>&1
  else postfix -c "$PF/conf" start >/dev/null 2>&1; fi
  wait_port "$IMAP_PORT" && wait_port "$LMTP_PORT" && wait_port "$SMTP_PORT"
  echo "mailstack: IMAP 127.0.0.1:$IMAP_PORT, SMTP 127.0.0.1:$SMTP_PORT (mail under $ROOT/mail)"
}

stop() {
  postfix -c "$PF/conf" stop >/dev/null 2>&1 || true
  doveadm -c "$ROOT/dovecot.conf" stop >/dev/null 2>&1 || true
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) postfix -c "$PF/conf" status && doveadm -c "$ROOT/dovecot.conf" who >/dev/null && echo running ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
