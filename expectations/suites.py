"""Great Expectations suites, as code. Each suite validates one warehouse table.

`critical(...)` marks an expectation whose failure stops the run before anything is
sent; anything else is a warning: reported, and the run goes on.
"""

from __future__ import annotations

import great_expectations.expectations as gxe

# Lower-case local@domain.tld, as audience_members holds it; the same rule as dbt's
# is_valid_email macro, so a row that slipped past staging is caught here.
EMAIL_PATTERN = (
    r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$"
)


def critical(expectation: gxe.Expectation) -> gxe.Expectation:
    expectation.meta = {**(expectation.meta or {}), "severity": "critical"}
    return expectation


def warning(expectation: gxe.Expectation) -> gxe.Expectation:
    expectation.meta = {**(expectation.meta or {}), "severity": "warning"}
    return expectation


def suites() -> dict[str, list[gxe.Expectation]]:
    """Table name -> its expectations."""
    return {
        "dim_customers": [
            critical(gxe.ExpectTableRowCountToBeBetween(min_value=1)),
            critical(gxe.ExpectColumnValuesToNotBeNull(column="customer_id")),
            critical(gxe.ExpectColumnValuesToBeUnique(column="customer_id")),
            critical(gxe.ExpectColumnValuesToNotBeNull(column="email")),
            critical(
                gxe.ExpectColumnValuesToBeInSet(
                    column="email_consent_state",
                    value_set=["subscribed", "pending", "not_subscribed", "unsubscribed"],
                )
            ),
            warning(gxe.ExpectColumnValuesToBeBetween(column="orders_count", min_value=0)),
        ],
        "audience_members": [
            critical(gxe.ExpectTableRowCountToBeBetween(min_value=1)),
            critical(gxe.ExpectColumnValuesToNotBeNull(column="email")),
            critical(gxe.ExpectColumnValuesToMatchRegex(column="email", regex=EMAIL_PATTERN)),
            critical(
                gxe.ExpectColumnValuesToBeInSet(column="email_status", value_set=["subscribed"])
            ),
            critical(gxe.ExpectCompoundColumnsToBeUnique(column_list=["audience", "customer_id"])),
            warning(gxe.ExpectColumnValuesToNotBeNull(column="first_name", mostly=0.9)),
        ],
    }
