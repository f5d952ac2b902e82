-- One row per line item of the newest version of each Shopify order. The category is the
-- product's current type from the catalogue (stg_shopify__products), else the type the
-- order carried when it was landed.
with

source as (
    select * from {{ source('shopify', 'orders') }}
),

latest as (
    select * from source
    qualify row_number() over (partition by id order by updated_at desc, interval_end desc) = 1
),

-- One JSON parse per order into the fields read below; line items as a list of structs.
parsed as (
    select
        id as order_id,
        json_transform(payload, '{
            "customer": {"id": "VARCHAR"}, "currencyCode": "VARCHAR",
            "createdAt": "VARCHAR", "cancelledAt": "VARCHAR",
            "lineItems": [{
                "id": "VARCHAR", "title": "VARCHAR", "quantity": "BIGINT", "sku": "VARCHAR",
                "originalUnitPriceSet": {"shopMoney": {"amount": "VARCHAR"}},
                "variant": {"id": "VARCHAR"},
                "product": {"id": "VARCHAR", "title": "VARCHAR", "productType": "VARCHAR"}
            }]
        }') as p
    from latest
),

lines as (
    select
        order_id,
        p.customer.id as shopify_customer_id,
        p.currencyCode as currency_code,
        p.createdAt as created_at_raw,
        p.cancelledAt as cancelled_at_raw,
        unnest(p.lineItems) as line,
        generate_subscripts(p.lineItems, 1) as line_number
    from parsed
),

products as (
    select product_id, category from {{ ref('stg_shopify__products') }}
),

renamed as (
    select
        ---------- ids
        coalesce({{ nonblank('line.id') }}, order_id || '#' || line_number) as order_line_id,
        order_id,
        {{ nonblank('shopify_customer_id') }} as shopify_customer_id,
        {{ nonblank('line.product.id') }} as product_id,
        {{ nonblank('line.variant.id') }} as variant_id,
        line_number,

        ---------- strings
        {{ nonblank('line.sku') }} as sku,
        coalesce({{ nonblank('line.title') }}, {{ nonblank('line.product.title') }}) as title,
        coalesce(products.category, {{ nonblank('line.product.productType') }}) as category,
        currency_code,

        ---------- numerics
        coalesce(line.quantity, 0) as quantity,
        cast(line.originalUnitPriceSet.shopMoney.amount as decimal(18, 2)) as unit_price,
        cast(
            cast(line.originalUnitPriceSet.shopMoney.amount as decimal(18, 2))
                * coalesce(line.quantity, 0) as decimal(18, 2)
        ) as line_total,

        ---------- booleans
        {{ nonblank('cancelled_at_raw') }} is not null as is_cancelled,

        ---------- timestamps
        {{ to_utc('created_at_raw') }} as ordered_at

    from lines
    left join products on products.product_id = {{ nonblank('line.product.id') }}
)

select * from renamed
