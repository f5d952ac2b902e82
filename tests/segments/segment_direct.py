"""The seed segments computed directly from the generator's files with pandas, without
the dbt models under test. Only the identity maps (which record, email or anonymous id
belongs to which customer_id) and the profile's region and consent come from the
warehouse: resolving people is not what these tests check."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd

PRODUCT_GID = "gid://shopify/Product/"
CUSTOMER_GID = "gid://shopify/Customer/"


def _jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _ts(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True, format="ISO8601").dt.tz_localize(None)


class Store:
    """The generated files as frames, tied to customer ids through the warehouse's maps."""

    def __init__(self, store: Path, warehouse: Path):
        with duckdb.connect(str(warehouse), read_only=True) as con:
            by_gid = dict(
                con.execute(
                    "select source_record_id, customer_id from int_customer_records__resolved "
                    "where source = 'shopify'"
                ).fetchall()
            )
            by_email = dict(
                con.execute("select email, customer_id from int_identity__email_owners").fetchall()
            )
            by_anonymous = dict(
                con.execute(
                    "select anonymous_id, customer_id from int_identity__anonymous_ids "
                    "where customer_id is not null"
                ).fetchall()
            )
            self.people = con.execute(
                "select customer_id, region_code, country_code, email_consent_state "
                "from dim_customers"
            ).df()
        products = _jsonl(store / "shopify_products.jsonl")
        self.category = {p["id"]: p.get("productType") for p in products}
        self.title = {p["id"]: p.get("title") for p in products}

        orders, lines = [], []
        for o in _jsonl(store / "shopify_orders.jsonl"):
            customer = by_gid.get((o.get("customer") or {}).get("id"))
            cancelled = o.get("cancelledAt") is not None
            orders.append((o["id"], customer, o["createdAt"], cancelled))
            for item in o.get("lineItems") or []:
                product = (item.get("product") or {}).get("id")
                category = self.category.get(product) or (item.get("product") or {}).get(
                    "productType"
                )
                lines.append((o["id"], customer, product, category, o["createdAt"], cancelled))
        self.orders = pd.DataFrame(orders, columns=["order_id", "customer_id", "at", "cancelled"])
        self.orders["at"] = _ts(self.orders["at"])
        self.lines = pd.DataFrame(
            lines, columns=["order_id", "customer_id", "product_id", "category", "at", "cancelled"]
        )
        self.lines["at"] = _ts(self.lines["at"])

        events = []
        for e in _jsonl(store / "events.jsonl"):
            if e.get("type") != "track":
                continue
            user = e.get("userId")
            customer = by_gid.get(CUSTOMER_GID + user) if user else None
            customer = customer or by_anonymous.get(e.get("anonymousId"))
            props = e.get("properties") or {}
            product = props.get("product_id")
            if product and not str(product).startswith("gid://"):
                product = PRODUCT_GID + str(product)
            category = self.category.get(product) or props.get("category")
            events.append((customer, e.get("event"), product, category, e["timestamp"]))
        self.events = pd.DataFrame(
            events, columns=["customer_id", "event", "product_id", "category", "at"]
        )
        self.events["at"] = _ts(self.events["at"])

        activity = [
            (
                by_email.get((a.get("email_address") or "").strip().lower()),
                (a.get("action") or "").lower(),
                a["timestamp"],
            )
            for a in _jsonl(store / "mailchimp_email_activity.jsonl")
        ]
        self.activity = pd.DataFrame(activity, columns=["customer_id", "action", "at"])
        self.activity["at"] = _ts(self.activity["at"])

        checkouts = [
            (
                c["id"],
                by_gid.get((c.get("customer") or {}).get("id")),
                c["createdAt"],
                c.get("updatedAt") or c["createdAt"],
                c.get("completedAt"),
                float(c["totalPriceSet"]["shopMoney"]["amount"]),
            )
            for c in _jsonl(store / "shopify_abandoned_checkouts.jsonl")
        ]
        self.checkouts = pd.DataFrame(
            checkouts,
            columns=["checkout_id", "customer_id", "created", "updated", "completed", "total"],
        )
        for column in ("created", "updated", "completed"):
            self.checkouts[column] = _ts(self.checkouts[column])


def _window(frame: pd.DataFrame, as_of: datetime, days: float) -> pd.DataFrame:
    end = pd.Timestamp(as_of.replace(tzinfo=None))
    return frame[(frame["at"] >= end - pd.Timedelta(days=days)) & (frame["at"] < end)]


def _ids(frame: pd.DataFrame) -> set[str]:
    return set(frame["customer_id"].dropna())


def frequent_buyers(s: Store, as_of: datetime) -> set[str]:
    recent = _window(s.orders[~s.orders["cancelled"]], as_of, 30)
    counts = recent.groupby("customer_id").size()
    return set(counts[counts > 3].index)


def recent_purchasers(s: Store, as_of: datetime) -> set[str]:
    return _ids(_window(s.orders[~s.orders["cancelled"]], as_of, 30))


def high_engagement(s: Store, as_of: datetime) -> set[str]:
    recent = _window(s.activity, as_of, 7)
    opens = recent[recent["action"] == "open"].groupby("customer_id").size()
    clicks = recent[recent["action"] == "click"].groupby("customer_id").size()
    return set(opens[opens > 5].index) & set(clicks[clicks > 2].index)


def category_interest(s: Store, as_of: datetime, category: str = "Outdoor Gear") -> set[str]:
    views = _window(s.events, as_of, 30)
    views = views[(views["event"] == "Product Viewed") & (views["category"] == category)]
    bought = _window(s.lines[~s.lines["cancelled"]], as_of, 30)
    return _ids(views) | _ids(bought[bought["category"] == category])


def abandoned_cart(s: Store, as_of: datetime, idle_minutes: int = 60) -> dict[str, float]:
    """Newest cart per person last touched in the 24 hours before as_of (and idle for
    an hour), not completed before as_of, and no order from its start up to as_of."""
    end = pd.Timestamp(as_of.replace(tzinfo=None))
    c = s.checkouts[s.checkouts["customer_id"].notna() & (s.checkouts["created"] < end)]
    c = c[c["completed"].isna() | (c["completed"] >= end)]
    c = c[(c["updated"] <= end - pd.Timedelta(minutes=idle_minutes))]
    c = c[(c["updated"] >= end - pd.Timedelta(hours=24)) & (c["updated"] < end)]
    orders = s.orders[~s.orders["cancelled"] & (s.orders["at"] < end)]
    carts: dict[str, tuple] = {}
    for row in c.itertuples():
        mine = orders[(orders["customer_id"] == row.customer_id) & (orders["at"] >= row.created)]
        if len(mine):
            continue
        best = carts.get(row.customer_id)
        if best is None or (row.updated, row.checkout_id) > best[:2]:
            carts[row.customer_id] = (row.updated, row.checkout_id, row.total)
    return {customer: value[2] for customer, value in carts.items()}


def inactive(s: Store, as_of: datetime, days: int = 14) -> set[str]:
    end = pd.Timestamp(as_of.replace(tzinfo=None))
    activity = pd.concat(
        [
            s.orders[["customer_id", "at"]],
            s.events[["customer_id", "at"]],
            s.activity[s.activity["action"].isin(["open", "click"])][["customer_id", "at"]],
        ]
    )
    activity = activity[activity["customer_id"].notna() & (activity["at"] < end)]
    last = activity.groupby("customer_id")["at"].max()
    return set(last[last < end - pd.Timedelta(days=days)].index)


def viewed_not_bought(s: Store, as_of: datetime) -> set[str]:
    views = _window(s.events, as_of, 7)
    views = views[(views["event"] == "Product Viewed") & views["product_id"].notna()]
    counts = views.groupby(["customer_id", "product_id"]).size()
    often = {pair for pair, n in counts.items() if n >= 3}
    bought = _window(s.lines[~s.lines["cancelled"]], as_of, 7)
    bought_pairs = set(zip(bought["customer_id"], bought["product_id"], strict=True))
    return {customer for customer, product in often if (customer, product) not in bought_pairs}


def ny_product_clickers(
    s: Store,
    as_of: datetime,
    titles: tuple[str, ...] = ("Trailblazer 2-Person Tent", "Summit 45L Backpack"),
) -> set[str]:
    clicks = _window(s.events, as_of, 30)
    clicks = clicks[clicks["event"].isin(["Product Viewed", "Product Added"])]
    clicked = _ids(clicks[clicks["product_id"].map(s.title).isin(titles)])
    people = s.people
    in_new_york = set(
        people[(people["country_code"] == "US") & (people["region_code"] == "NY")]["customer_id"]
    )
    bought_recently = recent_purchasers(s, as_of)
    unsubscribed = set(people[people["email_consent_state"] == "unsubscribed"]["customer_id"])
    return (clicked & in_new_york & bought_recently) - unsubscribed
