"""The plans sold for money, by their ids in `public.plans` (whose rows the
migrations create; `free` is what everyone has without an entitlement).
A test checks that this list and the table agree."""

from enum import StrEnum


class PaidPlan(StrEnum):
    PREMIUM = "premium"
    DJ_PRO = "dj_pro"
