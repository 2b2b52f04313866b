"""The auto-receipt window (pure): when an unconfirmed delivery is confirmed for the
requester, and how long the scan may sleep before the next one is due."""

from __future__ import annotations

from datetime import datetime

from supplychain_contracts.business_time import auto_receipt_seconds, business_deadline
from supplychain_contracts.company import BusinessCalendar, SlaPolicy


def due_at(
    shipped_at: datetime, policy: SlaPolicy | None, named_calendar: BusinessCalendar | None
) -> datetime:
    """When a delivery shipped at `shipped_at` is confirmed for the requester: the policy's
    window (default: 5 working days) in its calendar (its named one when known, else its
    inline one; no policy: the default, round-the-clock calendar). A calendar a clock cannot
    count in (monitoring refuses those) counts as round-the-clock: a shipment never fails."""
    calendar = named_calendar or (policy.calendar if policy is not None else BusinessCalendar())
    seconds = auto_receipt_seconds(policy, calendar)
    try:
        return business_deadline(shipped_at, seconds, calendar)
    except (ValueError, OverflowError):
        return business_deadline(shipped_at, seconds, BusinessCalendar())


def sleep_seconds(
    next_due: datetime | None, now: datetime, *, bound_s: float, floor_s: float = 0.0
) -> float:
    """How long the scan may sleep: until the next due time, at least `floor_s` (a due time
    already passed belongs to a delivery another replica holds or that failed: no tight
    loop on it), at most `bound_s`."""
    if next_due is None:
        return bound_s
    return min(max((next_due - now).total_seconds(), floor_s), bound_s)
