-- One row per line item of the newest version of each Shopify order. The category is the
-- product's current type from the catalogue (stg_shopify__products), else the type the
-- order carried when it was landed.
with

source as (
    select * from {{ landing_source('shopify', 'orders') }}
),

latest as (
    {{ first_row_per('source', 'id', 'updated_at desc, interval_end desc') }}
),

-- One JSON parse per order into the fields read below; line items as a list of structs.
parsed as (
    select
        id as order_id,
        {{ json_parse('payload', '{
            "customer": {"id": "VARCHAR"}, "currencyCode": "VARCHAR",
            "createdAt": "VARCHAR", "cancelledAt": "VARCHAR",
            "lineItems": [{
                "id": "VARCHAR", "title": "VARCHAR", "quantity": "BIGINT", "sku": "VARCHAR",
                "originalUnitPriceSet": {"shopMoney": {"amount": "VARCHAR"}},
                "variant": {"id": "VARCHAR"},
                "product": {"id": "VARCHAR", "title": "VARCHAR", "productType": "VARCHAR"}
            }]
        }') }} as p
    from latest
),

lines as (
    select
        order_id,
        {{ json_field('p', 'customer.id') }} as shopify_customer_id,
        {{ json_field('p', 'currencyCode') }} as currency_code,
        {{ json_field('p', 'createdAt') }} as created_at_raw,
        {{ json_field('p', 'cancelledAt') }} as cancelled_at_raw,
        {%- if target.type == 'postgres' %}
        items.line,
        items.line_number
    from parsed
    cross join lateral jsonb_array_elements(
        case when jsonb_typeof(p -> 'lineItems') = 'array' then p -> 'lineItems' else '[]' end
    ) with ordinality as items (line, line_number)
        {%- else %}
        unnest(p.lineItems) as line,
        generate_subscripts(p.lineItems, 1) as line_number
    from parsed
        {%- endif %}
),

products as (
    select product_id, category from {{ ref('stg_shopify__products') }}
),

renamed as (
    select
        ---------- ids
        coalesce({{ nonblank(json_field('line', 'id')) }}, order_id || '#' || line_number) as order_line_id,
        order_id,
        {{ nonblank('shopify_customer_id') }} as shopify_customer_id,
        {{ nonblank(json_field('line', 'product.id')) }} as product_id,
        {{ nonblank(json_field('line', 'variant.id')) }} as variant_id,
        line_number,

        ---------- strings
        {{ nonblank(json_field('line', 'sku')) }} as sku,
        coalesce({{ nonblank(json_field('line', 'title')) }}, {{ nonblank(json_field('line', 'product.title')) }}) as title,
        coalesce(products.category, {{ nonblank(json_field('line', 'product.productType')) }}) as category,
        currency_code,

        ---------- numerics
        {%- set quantity = json_field('line', 'quantity', 'bigint') %}
        {%- set amount = json_field('line', 'originalUnitPriceSet.shopMoney.amount') %}
        coalesce({{ quantity }}, 0) as quantity,
        cast({{ amount }} as decimal(18, 2)) as unit_price,
        cast(
            cast({{ amount }} as decimal(18, 2))
                * coalesce({{ quantity }}, 0) as decimal(18, 2)
        ) as line_total,

        ---------- booleans
        {{ nonblank('cancelled_at_raw') }} is not null as is_cancelled,

        ---------- timestamps
        {{ to_utc('created_at_raw') }} as ordered_at

    from lines
    left join products on products.product_id = {{ nonblank(json_field('line', 'product.id')) }}
)

select * from renamed
