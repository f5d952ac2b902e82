-- One row per Shopify webhook delivery received by the collector (redeliveries of one
-- webhook_id once). The pull extraction stays the source of truth for orders and
-- customers; webhooks give the abandoned-cart path its near-real-time freshness, and
-- checkout webhooks feed stg_shopify__abandoned_checkouts. Bodies are REST resources:
-- their numeric ids are turned into the GIDs the GraphQL records carry.
with

source as (
    select * from {{ landing_source('collector', 'shopify_webhooks') }}
),

latest as (
    {{ first_row_per('source', 'id', 'updated_at desc, interval_end desc') }}
),

parsed as (
    select
        id,
        updated_at,
        payload,
        {{ json_parse('payload', '{
            "topic": "VARCHAR", "webhook_id": "VARCHAR", "received_at": "VARCHAR",
            "body": {
                "id": "VARCHAR", "admin_graphql_api_id": "VARCHAR",
                "updated_at": "VARCHAR", "customer": {"id": "VARCHAR"}
            }
        }') }} as p
    from latest
),

typed as (
    select
        *,
        lower({{ nonblank(json_field('p', 'topic')) }}) as topic,
        case split_part(lower({{ json_field('p', 'topic') }}), '/', 1)
            when 'orders' then 'Order'
            when 'customers' then 'Customer'
            when 'checkouts' then 'AbandonedCheckout'
            when 'products' then 'Product'
        end as resource_type
    from parsed
),

renamed as (
    select
        ---------- ids
        coalesce({{ nonblank(json_field('p', 'webhook_id')) }}, id) as webhook_id,
        coalesce(
            {{ nonblank(json_field('p', 'body.admin_graphql_api_id')) }},
            case when resource_type is not null
                then 'gid://shopify/' || resource_type || '/' || {{ nonblank(json_field('p', 'body.id')) }}
            end
        ) as resource_id,
        case
            when resource_type = 'Customer' then {{ shopify_gid(nonblank(json_field('p', 'body.id')), 'Customer') }}
            else {{ shopify_gid(nonblank(json_field('p', 'body.customer.id')), 'Customer') }}
        end as shopify_customer_id,

        ---------- strings
        topic,
        resource_type,
        {{ json_value('payload', '$.body') }} as body,

        ---------- timestamps
        {{ to_utc(nonblank(json_field('p', 'body.updated_at'))) }} as resource_updated_at,
        coalesce({{ to_utc(nonblank(json_field('p', 'received_at'))) }}, updated_at at time zone 'UTC')
            as received_at

    from typed
)

select * from renamed
