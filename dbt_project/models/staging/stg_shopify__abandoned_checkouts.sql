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
    {{ first_row_per('source', 'id', 'updated_at desc, interval_end desc') }}
),

pulled_parsed as (
    select
        id,
        updated_at,
        {{ json_parse('payload', '{
            "email": "VARCHAR", "abandonedCheckoutUrl": "VARCHAR",
            "customer": {"id": "VARCHAR", "email": "VARCHAR"},
            "totalPriceSet": {"shopMoney": {"amount": "VARCHAR", "currencyCode": "VARCHAR"}},
            "createdAt": "VARCHAR", "completedAt": "VARCHAR", "lineItems": "JSON"
        }') }} as p
    from latest
),

pulled as (
    select
        id as checkout_id,
        {{ nonblank(json_field('p', 'customer.id')) }} as shopify_customer_id,
        coalesce({{ nonblank(json_field('p', 'email')) }}, {{ nonblank(json_field('p', 'customer.email')) }}) as email_raw,
        {{ json_field('p', 'totalPriceSet.shopMoney.amount') }} as total_price_raw,
        {{ json_field('p', 'totalPriceSet.shopMoney.currencyCode') }} as currency_code,
        -- a connection ({nodes: [...]}) as queried, or a flat list
        {%- if target.type == 'postgres' %}
        (select jsonb_agg(l) from {{ json_connection_elements("p -> 'lineItems'") }} as l)
        {%- else %}
        coalesce(
            json_transform(p.lineItems, '{"nodes": [{ {{- line_fields -}}, "product": {"id": "VARCHAR"}}]}').nodes,
            json_transform(p.lineItems, '[{ {{- line_fields -}}, "product": {"id": "VARCHAR"}}]')
        )
        {%- endif %} as line_items,
        {{ nonblank(json_field('p', 'abandonedCheckoutUrl')) }} as checkout_url,
        {{ json_field('p', 'createdAt') }} as created_at_raw,
        {{ json_field('p', 'completedAt') }} as completed_at_raw,
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
        {{ json_parse('body', '{
            "email": "VARCHAR", "abandoned_checkout_url": "VARCHAR",
            "customer": {"email": "VARCHAR"},
            "total_price": "VARCHAR", "currency": "VARCHAR",
            "created_at": "VARCHAR", "completed_at": "VARCHAR",
            "line_items": [{' ~ line_fields ~ ', "product_id": "VARCHAR"}]
        }') }} as b
    from webhooks
    where topic in ('checkouts/create', 'checkouts/update')
),

pushed as (
    select
        resource_id as checkout_id,
        shopify_customer_id,
        coalesce({{ nonblank(json_field('b', 'email')) }}, {{ nonblank(json_field('b', 'customer.email')) }}) as email_raw,
        {{ json_field('b', 'total_price') }} as total_price_raw,
        {{ json_field('b', 'currency') }} as currency_code,
        {%- if target.type == 'postgres' %}
        (select jsonb_agg(jsonb_build_object(
            'title', l -> 'title',
            'quantity', l -> 'quantity',
            'product', jsonb_build_object('id', {{ shopify_gid("(l ->> 'product_id')", 'Product') }})
        ) order by n) from jsonb_array_elements(
            case when jsonb_typeof(b -> 'line_items') = 'array' then b -> 'line_items' else '[]' end
        ) with ordinality as items (l, n))
        {%- else %}
        [
            {
                'title': l.title,
                'quantity': l.quantity,
                'product': {'id': {{ shopify_gid('l.product_id', 'Product') }}}
            }
            for l in b.line_items
        ]
        {%- endif %} as line_items,
        {{ nonblank(json_field('b', 'abandoned_checkout_url')) }} as checkout_url,
        {{ json_field('b', 'created_at') }} as created_at_raw,
        {{ json_field('b', 'completed_at') }} as completed_at_raw,
        coalesce(resource_updated_at, received_at) as updated_at,
        'webhook' as received_via,
        1 as source_priority
    from pushed_parsed
),

deleted as (
    select resource_id as checkout_id, max(received_at) as deleted_at
    from {{ ref('stg_shopify__webhooks') }}
    where topic = 'checkouts/delete'
    group by resource_id
),

newest as (
    {{ first_row_per('(select * from pulled union all select * from pushed) as candidates', 'checkout_id', 'updated_at desc, source_priority desc') }}
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
        {%- if target.type == 'postgres' %}
        {%- set elements = "jsonb_array_elements(coalesce(newest.line_items, '[]')) with ordinality as items (l, n)" %}
        array(
            select trim(l ->> 'title') from {{ elements }}
            where {{ nonblank("(l ->> 'title')") }} is not null order by n
        ) as items,
        array(
            select distinct l #>> '{product,id}' from {{ elements }}
            where l #>> '{product,id}' is not null
        ) as product_ids,

        ---------- numerics
        cast(newest.total_price_raw as decimal(18, 2)) as total_price,
        coalesce(jsonb_array_length(newest.line_items), 0) as line_item_count,
        cast(coalesce((select sum(cast(l ->> 'quantity' as bigint)) from {{ elements }}), 0) as bigint)
            as item_quantity,
        {%- else %}
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
        {%- endif %}

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
