"""The one rule engine for the rules config/fgm.yaml declares between items (`requires:`): checking
a submitted row, and deciding which records an item's breakdown counts. It knows no item by name.

A rule on item X, `requires: {item: Y, in: [...], when: [...]}`, reads: when X has a value (one of
`when`, if given), Y must be one of `in`. A rule without `when` also scopes X's breakdown: X is
counted only over the records where Y is one of `in` (a Type 4 qualifier only over Type 4).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from safeguard.domain.config.fgm import FgmItem, FgmSettings, Requirement


def holds(rule: Requirement, values: Mapping[str, Any]) -> bool:
    """Does the record meet the rule's requirement (its `item` is one of `in`)?"""
    value = values.get(rule.item)
    return value is not None and str(value) in rule.in_


def applies(rule: Requirement, own: Any) -> bool:
    """Does the rule bind a record whose own value for the item is `own`?"""
    return own is not None and own != "" and (not rule.when or str(own) in rule.when)


def broken_rules(values: Mapping[str, Any], fgm: FgmSettings) -> Iterator[tuple[FgmItem, Requirement]]:
    """Each (item, rule) the record breaks, in dataset order."""
    for item in fgm.items:
        for rule in item.requires:
            if applies(rule, values.get(item.key)) and not holds(rule, values):
                yield item, rule


def message_for(rule: Requirement, fgm: FgmSettings) -> str:
    """The rule's own words, or plain ones built from the configuration."""
    if rule.message:
        return rule.message
    other = fgm.item(rule.item)
    label = other.label if other else rule.item
    allowed = ", ".join(other.codes.get(c, c) if other else c for c in rule.in_)
    return f"is only for {label} {allowed}. Check both columns."


def scope_rules(item: FgmItem) -> list[Requirement]:
    """The rules that limit which records the item's breakdown counts (those without `when`)."""
    return [r for r in item.requires if not r.when]
