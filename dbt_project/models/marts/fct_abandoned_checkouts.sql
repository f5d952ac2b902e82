-- One row per Shopify checkout with whether it counts as abandoned, relative to as_of:
-- not completed, idle for `tailor_checkout_abandoned_after_minutes`, and not followed by
-- an order of the same person (profile, else email) placed after the checkout was created
-- and before as_of. Shopify has no "abandoned" event; the idle time is ours to choose.
with

checkouts as (
    select * from {{ ref('stg_shopify__abandoned_checkouts') }}
    where created_at < {{ as_of() }}
),

shopify_people as (
    select source_record_id as shopify_customer_id, customer_id
    from {{ ref('int_customer_records__resolved') }}
    where source = 'shopify'
),

email_owners as (
    select email, customer_id from {{ ref('int_identity__email_owners') }}
),

people as (
    select
        checkouts.checkout_id,
        checkouts.shopify_customer_id,
        checkouts.email,
        checkouts.total_price,
        checkouts.currency_code,
        checkouts.line_item_count,
        checkouts.item_quantity,
        checkouts.items,
        checkouts.product_ids,
        checkouts.checkout_url,
        checkouts.is_deleted,
        checkouts.created_at,
        checkouts.updated_at,
        checkouts.completed_at,
        coalesce(checkouts.completed_at < {{ as_of() }}, false) as is_completed,
        coalesce(shopify_people.customer_id, email_owners.customer_id) as customer_id
    from checkouts
    left join shopify_people using (shopify_customer_id)
    left join email_owners using (email)
),

orders as (
    select orders.email, orders.created_at, fct_orders.customer_id
    from {{ ref('stg_shopify__orders') }} as orders
    inner join {{ ref('fct_orders') }} as fct_orders using (order_id)
    where not orders.is_cancelled and orders.created_at < {{ as_of() }}
),

purchased as (
    select people.checkout_id, min(orders.created_at) as purchased_at
    from people
    inner join orders
        on orders.customer_id = people.customer_id
        and orders.created_at >= people.created_at
    group by people.checkout_id
    union all
    select people.checkout_id, min(orders.created_at)
    from people
    inner join orders
        on orders.email = people.email
        and orders.created_at >= people.created_at
    group by people.checkout_id
),

first_purchase as (
    select checkout_id, min(purchased_at) as purchased_at
    from purchased
    group by checkout_id
),

flagged as (
    select
        people.*,
        first_purchase.purchased_at,
        first_purchase.checkout_id is not null as purchased_since,
        not people.is_completed
            and first_purchase.checkout_id is null
            and not people.is_deleted
            and coalesce(people.updated_at, people.created_at)
                <= {{ as_of() }} - to_minutes({{ var('tailor_checkout_abandoned_after_minutes') }})
            as is_abandoned
    from people
    left join first_purchase using (checkout_id)
)

select
    checkout_id,
    customer_id,
    shopify_customer_id,
    total_price,
    currency_code,
    line_item_count,
    item_quantity,
    items,
    product_ids,
    checkout_url,
    is_completed,
    purchased_since,
    is_abandoned,
    is_deleted,
    created_at,
    updated_at,
    completed_at,
    purchased_at,
    -- the checkout's last activity, when it counts as abandoned
    case when is_abandoned then coalesce(updated_at, created_at) end as abandoned_at
from flagged
