-- One row per track call from the storefront collector (Segment spec), each message once.
-- userId is the Shopify customer's numeric id when the visitor is logged in; a product id
-- may come as a numeric id or a GID and is kept as a GID. Parsed in stg_events__calls.
-- A view: a filter of stg_events__calls, which is already a table.
{{ config(materialized='view') }}
select
    ---------- ids
    event_id,
    user_id,
    shopify_customer_id,
    anonymous_id,
    product_id,

    ---------- strings
    event_name,
    device_type,
    sku,
    category,
    url,
    email,

    ---------- numerics
    price,
    quantity,

    ---------- timestamps
    occurred_at

from {{ ref('stg_events__calls') }}
where call_type = 'track'
