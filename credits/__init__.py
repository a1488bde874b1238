"""Credits: pricing (a pure function of the resolved job). The ledger arrives with accounts."""

from credits.pricing import PricingPolicy, estimate_cost

__all__ = ["PricingPolicy", "estimate_cost"]
