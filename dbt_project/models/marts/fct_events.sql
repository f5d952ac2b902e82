-- One row per storefront track call, tied to a person: by the call's own userId when the
-- visitor was logged in, else by its anonymous id once that id was identified (so the
-- browsing before a login counts for the person). Null when never identified.
with

tracks as (
    select * from {{ ref('stg_events__tracks') }}
),

shopify_people as (
    select source_record_id as shopify_customer_id, customer_id
    from {{ ref('int_customer_records__resolved') }}
    where source = 'shopify'
),

anonymous_ids as (
    select anonymous_id, customer_id
    from {{ ref('int_identity__anonymous_ids') }}
    where customer_id is not null
),

products as (
    select product_id, category from {{ ref('stg_shopify__products') }}
)

select
    tracks.event_id,
    coalesce(shopify_people.customer_id, anonymous_ids.customer_id) as customer_id,
    tracks.anonymous_id,
    tracks.user_id,
    tracks.event_name,
    tracks.product_id,
    coalesce(products.category, tracks.category) as category,
    tracks.device_type,
    tracks.price,
    tracks.quantity,
    tracks.url,
    case
        when shopify_people.customer_id is not null then 'user_id'
        when anonymous_ids.customer_id is not null then 'anonymous_id'
    end as identified_by,
    tracks.occurred_at
from tracks
left join shopify_people using (shopify_customer_id)
left join anonymous_ids using (anonymous_id)
left join products using (product_id)
