-- One row per track call from the storefront collector (Segment spec), each message once.
-- userId is the Shopify customer's numeric id when the visitor is logged in; a product id
-- may come as a numeric id or a GID and is kept as a GID.
with

source as (
    select * from {{ landing_source('collector', 'events') }}
),

latest as (
    -- a message delivered twice lands twice: keep one
    select * from source
    qualify row_number() over (partition by id order by interval_end desc) = 1
),

parsed as (
    select
        id,
        updated_at,
        json_transform(payload, '{
            "type": "VARCHAR", "event": "VARCHAR", "userId": "VARCHAR",
            "anonymousId": "VARCHAR", "timestamp": "VARCHAR",
            "context": {"device": {"type": "VARCHAR"}},
            "properties": {
                "product_id": "VARCHAR", "sku": "VARCHAR", "category": "VARCHAR",
                "price": "VARCHAR", "quantity": "VARCHAR", "url": "VARCHAR", "email": "VARCHAR"
            }
        }') as p
    from latest
),

tracks as (
    select * from parsed where lower(p.type) = 'track'
),

renamed as (
    select
        ---------- ids
        id as event_id,
        {{ nonblank('p.userId') }} as user_id,
        {{ shopify_gid(nonblank('p.userId'), 'Customer') }} as shopify_customer_id,
        {{ nonblank('p.anonymousId') }} as anonymous_id,
        {{ shopify_gid(nonblank('p.properties.product_id'), 'Product') }} as product_id,

        ---------- strings
        {{ nonblank('p.event') }} as event_name,
        lower({{ nonblank('p.context.device.type') }}) as device_type,
        {{ nonblank('p.properties.sku') }} as sku,
        {{ nonblank('p.properties.category') }} as category,
        {{ nonblank('p.properties.url') }} as url,
        {{ normalise_email('p.properties.email') }} as email,

        ---------- numerics
        try_cast(p.properties.price as decimal(18, 2)) as price,
        try_cast(p.properties.quantity as bigint) as quantity,

        ---------- timestamps
        coalesce({{ to_utc(nonblank('p.timestamp')) }}, updated_at at time zone 'UTC')
            as occurred_at

    from tracks
)

select * from renamed
