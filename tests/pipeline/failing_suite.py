"""A suite with one critical expectation that no real warehouse meets (used by a test)."""

import great_expectations.expectations as gxe


def suites():
    impossible = gxe.ExpectTableRowCountToBeBetween(min_value=10**12)
    impossible.meta = {"severity": "critical"}
    return {"audience_members": [impossible]}
