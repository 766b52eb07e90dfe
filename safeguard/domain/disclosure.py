"""NHS disclosure control for published counts: 0 stays 0, 1 to 7 become 5, every other count is
rounded to the nearest 5. Totals are rounded on their own, so they may not add up."""

from __future__ import annotations

NOTE = ("Disclosure control: counts are rounded to the nearest 5, and any count from 1 to 7 is shown as 5 "
        "(0 stays 0). Totals are rounded independently and may not equal the sum of the rounded rows.")


def disclose(count: int) -> int:
    if count < 0:
        raise ValueError("a count cannot be negative")
    if count == 0:
        return 0
    if count <= 7:
        return 5
    return (count + 2) // 5 * 5
