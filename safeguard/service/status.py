"""Alert statuses; docs/design.md, "The alert lifecycle", draws how an alert moves between them."""

AWAITING_APPROVAL = "AWAITING_APPROVAL"
ACTIVE = "ACTIVE"
REJECTED = "REJECTED"
WITHDRAWN = "WITHDRAWN"
