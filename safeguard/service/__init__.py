"""Use cases: thin functions over the domain, the register (unit of work) and the mailbox port."""
