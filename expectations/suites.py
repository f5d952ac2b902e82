"""Great Expectations suites, as code: one entry per table, in three layers.

- landing: this run's landing files, before dbt reads them (ids present, timestamps and
  amounts in the format staging casts);
- staging: what the sources said, typed (ids, no future timestamps, share of valid emails,
  prices, currencies, row counts against the last good run, freshness);
- marts: what will be sent (keys, consent, segment members that exist, value sets, totals,
  the share of profiles merged from several sources).

`critical(...)` stops the run before anything is sent; `warning(...)` is reported and the
run goes on. Every "future" and "fresh" is relative to the run's as_of, never the clock.
Adding a table is one entry in `suites()`; a new `seg_*` model is gated without one.
"""

from __future__ import annotations

import math
from datetime import timedelta

import great_expectations.expectations as gxe
from tailor.quality_suite import SuiteContext, TableSuite, critical, warning

# Lower-case local@domain.tld: the same rule as dbt's is_valid_email macro.
EMAIL_PATTERN = (
    r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$"
)
# ISO-8601 as the APIs send it (Z or an offset, optional fraction) or epoch milliseconds.
TIMESTAMP_PATTERN = r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})|\d{12,13})$"
AMOUNT_PATTERN = r"^-?\d+(\.\d+)?$"
# ISO 4217 codes in use.
_ISO_4217 = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD "
    "BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB "
    "EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK "
    "JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA "
    "MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK "
    "PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN "
    "SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST "
    "XAF XCD XOF XPF YER ZAR ZMW ZWL "
)
CURRENCIES = sorted(_ISO_4217.split())
CONSENT_STATES = ["subscribed", "pending", "not_subscribed", "unsubscribed"]
SHOPIFY_MARKETING_STATES = [
    "subscribed",
    "not_subscribed",
    "unsubscribed",
    "pending",
    "redacted",
    "invalid",
]
LIFECYCLE_STAGES = [
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
]
# dim_customers: the profile's stage, its RFM segment names (macro rfm_segment_name) and
# the counts and amounts that can never be negative.
PROFILE_LIFECYCLE_STAGES = ["prospect", "new", "active", "lapsed", "churned"]
RFM_SEGMENTS = [
    "Champions",
    "Loyal",
    "New",
    "Potential loyalist",
    "Can't lose them",
    "At risk",
    "Need attention",
    "Hibernating",
    "Lost",
]
RFM_SCORES = ["rfm_recency", "rfm_frequency", "rfm_monetary"]
PROFILE_COUNTS = [
    "orders_last_30_days",
    "average_order_value",
    "product_views_7d",
    "email_opens_7d",
    "email_clicks_7d",
    "email_opens_30d",
    "email_clicks_30d",
    "open_cart_value",
]
TIMESTAMP_TYPES = ["datetime64[us]", "datetime64[ns]", "datetime64[ms]", "datetime64[s]"]

# Bands. A table shrinking below half of the last good run's rows is an incident; a
# sudden tripling is worth a look. Tables smaller than ROW_COUNT_FLOOR are too small for
# a ratio to mean anything.
ROW_COUNT_MIN_SHARE = 0.5
ROW_COUNT_MAX_GROWTH = 3.0
ROW_COUNT_FLOOR = 100
VALID_EMAIL_SHARE = 0.9
MULTI_SOURCE_SHIFT = 0.15  # absolute change in the share of merged profiles
FRESH_WITHIN = timedelta(days=7)


def _not_null(column: str) -> gxe.Expectation:
    return critical(gxe.ExpectColumnValuesToNotBeNull(column=column))


def _id(column: str) -> list[gxe.Expectation]:
    return [_not_null(column), critical(gxe.ExpectColumnValuesToBeUnique(column=column))]


def _not_after_as_of(ctx: SuiteContext, *columns: str) -> list[gxe.Expectation]:
    return [
        critical(gxe.ExpectColumnValuesToBeBetween(column=c, max_value=ctx.as_of_naive))
        for c in columns
    ]


def _not_negative(*columns: str, severity=critical) -> list[gxe.Expectation]:
    return [severity(gxe.ExpectColumnValuesToBeBetween(column=c, min_value=0)) for c in columns]


def _timestamp_typed(*columns: str) -> list[gxe.Expectation]:
    return [
        critical(gxe.ExpectColumnValuesToBeInTypeList(column=c, type_list=TIMESTAMP_TYPES))
        for c in columns
    ]


def _row_count_band(ctx: SuiteContext, table: str) -> list[gxe.Expectation]:
    """Critical below half the last good run's count, a warning above three times it."""
    previous = ctx.previous_metric(table, "row_count")
    if previous is None or previous < ROW_COUNT_FLOOR:
        return []
    return [
        critical(
            gxe.ExpectColumnValuesToBeBetween(
                column="row_count", min_value=math.ceil(previous * ROW_COUNT_MIN_SHARE)
            )
        ),
        warning(
            gxe.ExpectColumnValuesToBeBetween(
                column="row_count", max_value=math.floor(previous * ROW_COUNT_MAX_GROWTH)
            )
        ),
    ]


def _fresh(ctx: SuiteContext, metric: str) -> gxe.Expectation:
    return critical(
        gxe.ExpectColumnValuesToBeBetween(column=metric, min_value=ctx.as_of_naive - FRESH_WITHIN)
    )


def _landing(
    ctx: SuiteContext,
    source: str,
    entity: str,
    timestamps: dict[str, str],
    amounts: dict[str, str] | None = None,
) -> TableSuite:
    """This run's landing file: ids present, timestamps and amounts in a castable format."""
    derived = {
        name: f"json_extract_string(payload, '{path}')"
        for name, path in {**timestamps, **(amounts or {})}.items()
    }
    return TableSuite(
        layer="landing",
        relation=ctx.landing_files(source, entity),
        key=["id"],
        derived=derived,
        expectations=[
            _not_null("id"),
            _not_null("updated_at"),
            *(
                critical(gxe.ExpectColumnValuesToMatchRegex(column=c, regex=TIMESTAMP_PATTERN))
                for c in timestamps
            ),
            *(
                critical(gxe.ExpectColumnValuesToMatchRegex(column=c, regex=AMOUNT_PATTERN))
                for c in amounts or {}
            ),
        ],
    )


def _staging(
    ctx: SuiteContext, table: str, key: str, expectations: list, email_column: str | None = None
) -> TableSuite:
    metrics = {"newest_updated_at": "max(updated_at)"}
    if email_column:
        expectations = [
            *expectations,
            critical(
                gxe.ExpectColumnValuesToMatchRegex(
                    column=email_column, regex=EMAIL_PATTERN, mostly=VALID_EMAIL_SHARE
                )
            ),
        ]
    return TableSuite(
        layer="staging",
        key=[key],
        expectations=[
            *_id(key),
            _not_null("updated_at"),
            *_timestamp_typed("updated_at"),
            *expectations,
        ],
        metrics=metrics,
        metric_expectations=[*_row_count_band(ctx, table), _fresh(ctx, "newest_updated_at")],
    )


def _segment(ctx: SuiteContext, table: str, counts_orders: bool = False) -> TableSuite:
    """Every member is a known customer, once; a segment that counts orders in a window
    (`orders_in_window`) has at least one for every member."""
    orders = [critical(gxe.ExpectColumnValuesToBeBetween(column="orders_in_window", min_value=1))]
    return TableSuite(
        relation=(
            f"(select s.*, c.customer_id is not null as is_in_dim_customers from {table} s "
            "left join (select distinct customer_id from dim_customers) c using (customer_id))"
        ),
        key=["customer_id"],
        expectations=[
            *_id("customer_id"),
            critical(
                gxe.ExpectColumnValuesToBeInSet(column="is_in_dim_customers", value_set=[True])
            ),
            *(orders if counts_orders else []),
        ],
        metric_expectations=[warning(e) for e in _row_count_band(ctx, table)],
    )


def _multi_source_band(ctx: SuiteContext) -> list[gxe.Expectation]:
    previous = ctx.previous_metric("dim_customers", "multi_source_share")
    if previous is None:
        return [
            warning(gxe.ExpectColumnValuesToBeBetween(column="multi_source_share", max_value=0.95))
        ]
    return [
        critical(
            gxe.ExpectColumnValuesToBeBetween(
                column="multi_source_share",
                min_value=max(previous - MULTI_SOURCE_SHIFT, 0.0),
                max_value=min(previous + MULTI_SOURCE_SHIFT, 1.0),
            )
        )
    ]


def suites(ctx: SuiteContext) -> dict[str, TableSuite]:
    """Table name -> its suite, for the run described by ctx."""
    entries: dict[str, TableSuite] = {
        # ---------- landing: this run's files, before dbt
        "landing_shopify__customers": _landing(
            ctx,
            "shopify",
            "customers",
            {"created_at_text": "$.createdAt"},
            {"amount_spent_text": "$.amountSpent.amount"},
        ),
        "landing_shopify__orders": _landing(
            ctx,
            "shopify",
            "orders",
            {"created_at_text": "$.createdAt"},
            {"total_price_text": "$.totalPriceSet.shopMoney.amount"},
        ),
        "landing_hubspot__contacts": _landing(
            ctx, "hubspot", "contacts", {"created_at_text": "$.properties.createdate"}
        ),
        # ---------- staging: every record the sources hold, typed
        "stg_shopify__customers": _staging(
            ctx,
            "stg_shopify__customers",
            "shopify_customer_id",
            [
                *_not_after_as_of(ctx, "created_at", "updated_at"),
                *_not_negative("number_of_orders", "amount_spent"),
                critical(
                    gxe.ExpectColumnValuesToBeInSet(
                        column="email_marketing_state", value_set=SHOPIFY_MARKETING_STATES
                    )
                ),
            ],
            email_column="email",
        ),
        "stg_shopify__orders": _staging(
            ctx,
            "stg_shopify__orders",
            "order_id",
            [
                _not_null("created_at"),
                *_not_after_as_of(ctx, "created_at", "updated_at"),
                *_not_negative("total_price"),
                critical(
                    gxe.ExpectColumnValuesToBeInSet(column="currency_code", value_set=CURRENCIES)
                ),
                *_not_negative("line_item_count", severity=warning),
            ],
        ),
        "stg_hubspot__contacts": _staging(
            ctx,
            "stg_hubspot__contacts",
            "hubspot_contact_id",
            [
                *_not_after_as_of(ctx, "created_at", "updated_at"),
                warning(
                    gxe.ExpectColumnValuesToBeInSet(
                        column="lifecycle_stage", value_set=LIFECYCLE_STAGES
                    )
                ),
            ],
            email_column="email",
        ),
        # ---------- marts: what will be sent
        "dim_customers": TableSuite(
            key=["customer_id"],
            expectations=[
                critical(gxe.ExpectTableRowCountToBeBetween(min_value=1)),
                *_id("customer_id"),
                # A profile whose address another profile owns (a family email, kept in
                # `shared_email`) has no email of its own, by design: not a defect.
                critical(
                    gxe.ExpectColumnValuesToNotBeNull(
                        column="email", row_condition="owns_an_email", condition_parser="pandas"
                    )
                ),
                critical(gxe.ExpectColumnValuesToMatchRegex(column="email", regex=EMAIL_PATTERN)),
                critical(
                    gxe.ExpectColumnValuesToBeInSet(
                        column="email_consent_state", value_set=CONSENT_STATES
                    )
                ),
                *_not_negative("orders_count", "total_spent"),
                # dbt's accepted_values tests stop the build first; these keep the gate
                # honest about what reaches the ESP as merge fields.
                warning(
                    gxe.ExpectColumnValuesToBeInSet(
                        column="lifecycle_stage", value_set=PROFILE_LIFECYCLE_STAGES
                    )
                ),
                warning(
                    gxe.ExpectColumnValuesToBeInSet(column="rfm_segment", value_set=RFM_SEGMENTS)
                ),
                *[
                    warning(gxe.ExpectColumnValuesToBeBetween(column=c, min_value=1, max_value=5))
                    for c in RFM_SCORES
                ],
                *_not_negative(*PROFILE_COUNTS, severity=warning),
                critical(gxe.ExpectColumnValuesToBeBetween(column="source_count", min_value=1)),
                warning(
                    gxe.ExpectColumnValuesToBeInSet(
                        column="crm_lifecycle_stage", value_set=LIFECYCLE_STAGES
                    )
                ),
            ],
            derived={
                "owns_an_email": "shared_email is null",
                # null for people without orders: read as float, as pandas has no null int64
                **{c: f"cast({c} as double)" for c in RFM_SCORES},
            },
            metrics={"multi_source_share": "avg((source_count > 1)::int)"},
            metric_expectations=[*_row_count_band(ctx, "dim_customers"), *_multi_source_band(ctx)],
        ),
        "fct_orders": TableSuite(
            key=["order_id"],
            expectations=[
                *_id("order_id"),
                *_not_negative("total_price"),
                critical(
                    gxe.ExpectColumnValuesToBeInSet(column="currency_code", value_set=CURRENCIES)
                ),
                *_not_after_as_of(ctx, "created_at"),
                warning(gxe.ExpectColumnValuesToNotBeNull(column="customer_id", mostly=0.95)),
            ],
            metric_expectations=_row_count_band(ctx, "fct_orders"),
        ),
        "audience_members": TableSuite(
            # Consent is read from the profile, not from the row the sync sends.
            relation=(
                "(select a.*, c.email_consent_state as profile_consent_state "
                "from audience_members a left join dim_customers c using (customer_id))"
            ),
            key=["audience", "customer_id"],
            expectations=[
                critical(gxe.ExpectTableRowCountToBeBetween(min_value=1)),
                _not_null("email"),
                critical(gxe.ExpectColumnValuesToMatchRegex(column="email", regex=EMAIL_PATTERN)),
                critical(
                    gxe.ExpectColumnValuesToBeInSet(column="email_status", value_set=["subscribed"])
                ),
                critical(
                    gxe.ExpectColumnValuesToBeInSet(
                        column="profile_consent_state", value_set=["subscribed"]
                    )
                ),
                critical(
                    gxe.ExpectCompoundColumnsToBeUnique(column_list=["audience", "customer_id"])
                ),
                warning(gxe.ExpectColumnValuesToNotBeNull(column="first_name", mostly=0.9)),
            ],
            metric_expectations=[warning(e) for e in _row_count_band(ctx, "audience_members")],
        ),
    }
    for table in ("seg_frequent_buyers", "seg_recent_purchasers"):
        entries[table] = _segment(ctx, table, counts_orders=True)
    for table in sorted(ctx.tables):
        if table.startswith("seg_"):
            entries.setdefault(table, _segment(ctx, table))
    return entries
