"""Mail: one port (Mailbox) and its adapters; parsing inbound and composing outbound messages."""
