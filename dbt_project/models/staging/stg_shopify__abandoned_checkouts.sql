-- One row per Shopify checkout, its newest version from either path: the pull extraction
-- (GraphQL `AbandonedCheckout`) or the collector's checkouts/create|update webhooks (the
-- REST checkout), whichever changed it last; on a tie the pull wins. A checkouts/delete
-- webhook flags the checkout (`is_deleted`), it is not dropped.
{%- set line_fields = '"title": "VARCHAR", "quantity": "BIGINT"' %}
with

source as (
    select * from {{ landing_source('shopify', 'abandoned_checkouts') }}
),

latest as (
    select * from source
    qualify row_number() over (partition by id order by updated_at desc, interval_end desc) = 1
),

pulled_parsed as (
    select
        id,
        updated_at,
        json_transform(payload, '{
            "email": "VARCHAR", "abandonedCheckoutUrl": "VARCHAR",
            "customer": {"id": "VARCHAR", "email": "VARCHAR"},
            "totalPriceSet": {"shopMoney": {"amount": "VARCHAR", "currencyCode": "VARCHAR"}},
            "createdAt": "VARCHAR", "completedAt": "VARCHAR", "lineItems": "JSON"
        }') as p
    from latest
),

pulled as (
    select
        id as checkout_id,
        {{ nonblank('p.customer.id') }} as shopify_customer_id,
        coalesce({{ nonblank('p.email') }}, {{ nonblank('p.customer.email') }}) as email_raw,
        p.totalPriceSet.shopMoney.amount as total_price_raw,
        p.totalPriceSet.shopMoney.currencyCode as currency_code,
        -- a connection ({nodes: [...]}) as queried, or a flat list
        coalesce(
            json_transform(p.lineItems, '{"nodes": [{ {{- line_fields -}}, "product": {"id": "VARCHAR"}}]}').nodes,
            json_transform(p.lineItems, '[{ {{- line_fields -}}, "product": {"id": "VARCHAR"}}]')
        ) as line_items,
        {{ nonblank('p.abandonedCheckoutUrl') }} as checkout_url,
        p.createdAt as created_at_raw,
        p.completedAt as completed_at_raw,
        (updated_at at time zone 'UTC') as updated_at,
        'api' as received_via,
        2 as source_priority
    from pulled_parsed
),

webhooks as (
    select * from {{ ref('stg_shopify__webhooks') }}
    where resource_type = 'AbandonedCheckout'
),

pushed_parsed as (
    select
        resource_id,
        shopify_customer_id,
        resource_updated_at,
        received_at,
        json_transform(body, '{
            "email": "VARCHAR", "abandoned_checkout_url": "VARCHAR",
            "customer": {"email": "VARCHAR"},
            "total_price": "VARCHAR", "currency": "VARCHAR",
            "created_at": "VARCHAR", "completed_at": "VARCHAR",
            "line_items": [{ {{- line_fields -}}, "product_id": "VARCHAR"}]
        }') as b
    from webhooks
    where topic in ('checkouts/create', 'checkouts/update')
),

pushed as (
    select
        resource_id as checkout_id,
        shopify_customer_id,
        coalesce({{ nonblank('b.email') }}, {{ nonblank('b.customer.email') }}) as email_raw,
        b.total_price as total_price_raw,
        b.currency as currency_code,
        [
            {
                'title': l.title,
                'quantity': l.quantity,
                'product': {'id': {{ shopify_gid('l.product_id', 'Product') }}}
            }
            for l in b.line_items
        ] as line_items,
        {{ nonblank('b.abandoned_checkout_url') }} as checkout_url,
        b.created_at as created_at_raw,
        b.completed_at as completed_at_raw,
        coalesce(resource_updated_at, received_at) as updated_at,
        'webhook' as received_via,
        1 as source_priority
    from pushed_parsed
),

deleted as (
    select resource_id as checkout_id, max(received_at) as deleted_at
    from {{ ref('stg_shopify__webhooks') }}
    where topic = 'checkouts/delete'
    group by all
),

newest as (
    select * from (select * from pulled union all select * from pushed)
    qualify row_number() over (
        partition by checkout_id order by updated_at desc, source_priority desc
    ) = 1
),

renamed as (
    select
        ---------- ids
        newest.checkout_id,
        newest.shopify_customer_id,

        ---------- strings
        {{ normalise_email('newest.email_raw') }} as email,
        newest.currency_code,
        newest.checkout_url,
        newest.received_via,

        ---------- lists
        coalesce(
            [trim(l.title) for l in newest.line_items if {{ nonblank('l.title') }} is not null], []
        ) as items,
        coalesce(
            list_distinct([l.product.id for l in newest.line_items if l.product.id is not null]), []
        ) as product_ids,

        ---------- numerics
        cast(newest.total_price_raw as decimal(18, 2)) as total_price,
        coalesce(len(newest.line_items), 0) as line_item_count,
        cast(coalesce(list_sum([l.quantity for l in newest.line_items]), 0) as bigint)
            as item_quantity,

        ---------- booleans
        {{ nonblank('newest.completed_at_raw') }} is not null as is_completed,
        deleted.checkout_id is not null as is_deleted,

        ---------- timestamps
        {{ to_utc(nonblank('newest.created_at_raw')) }} as created_at,
        newest.updated_at,
        {{ to_utc(nonblank('newest.completed_at_raw')) }} as completed_at,
        deleted.deleted_at

    from newest
    left join deleted using (checkout_id)
)

select * from renamed
