-- One row per storefront collector call (Segment spec: track and identify), each messageId
-- once, its payload parsed once: stg_events__tracks and stg_events__identifies are views
-- over it, so the tens of millions of calls are read and parsed only here.
with

-- read where used, never held whole in memory: it is every call's payload
source as not materialized (
    select * from {{ landing_source('collector', 'events') }}
),

-- A message delivered twice lands twice: keep its latest landing. Few are, so only those
-- are ranked; ranking every call would carry each payload through a sort or a hash table.
redelivered as (
    select id from source group by id having count(*) > 1
),

redeliveries as (
    select * from source
    where exists (select 1 from redelivered where redelivered.id = source.id)
),

latest_redelivery as (
    {{ first_row_per('redeliveries', 'id', 'interval_end desc') }}
),

latest as (
    select id, updated_at, payload
    from source
    where not exists (select 1 from redelivered where redelivered.id = source.id)
    union all
    select id, updated_at, payload from latest_redelivery
),

parsed as (
    -- every field stg_events__tracks and stg_events__identifies read, in one parse
    select
        id,
        updated_at,
        {{ json_parse('payload', '{
            "type": "VARCHAR", "event": "VARCHAR", "userId": "VARCHAR",
            "anonymousId": "VARCHAR", "timestamp": "VARCHAR",
            "context": {"device": {"type": "VARCHAR"}},
            "traits": {"email": "VARCHAR"},
            "properties": {
                "product_id": "VARCHAR", "sku": "VARCHAR", "category": "VARCHAR",
                "price": "VARCHAR", "quantity": "VARCHAR", "url": "VARCHAR", "email": "VARCHAR"
            }
        }') }} as p
    from latest
),

renamed as (
    select
        ---------- ids
        id as event_id,
        {{ nonblank(json_field('p', 'userId')) }} as user_id,
        {{ nonblank(json_field('p', 'anonymousId')) }} as anonymous_id,
        {{ nonblank(json_field('p', 'properties.product_id')) }} as product_ref,

        ---------- strings
        lower({{ json_field('p', 'type') }}) as call_type,
        {{ nonblank(json_field('p', 'event')) }} as event_name,
        lower({{ nonblank(json_field('p', 'context.device.type')) }}) as device_type,
        {{ nonblank(json_field('p', 'properties.sku')) }} as sku,
        {{ nonblank(json_field('p', 'properties.category')) }} as category,
        {{ nonblank(json_field('p', 'properties.url')) }} as url,
        {{ normalise_email(json_field('p', 'properties.email')) }} as email,
        {{ normalise_email(
            'coalesce(' ~ json_field('p', 'traits.email') ~ ', '
            ~ json_field('p', 'properties.email') ~ ')'
        ) }} as identity_email,

        ---------- numerics
        {{ try_cast_text(json_field('p', 'properties.price'), 'decimal(18, 2)') }} as price,
        {{ try_cast_text(json_field('p', 'properties.quantity'), 'bigint') }} as quantity,

        ---------- timestamps
        coalesce(
            {{ to_utc(nonblank(json_field('p', 'timestamp'))) }},
            updated_at at time zone 'UTC'
        ) as occurred_at

    from parsed
)

select
    event_id,
    call_type,
    user_id,
    {{ shopify_gid('user_id', 'Customer') }} as shopify_customer_id,
    anonymous_id,
    {{ shopify_gid('product_ref', 'Product') }} as product_id,
    event_name,
    device_type,
    sku,
    category,
    url,
    email,
    identity_email,
    price,
    quantity,
    occurred_at
from renamed
