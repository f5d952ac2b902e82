-- One row per line item of a Shopify order, tied to the person who placed it, with the
-- product's category.
with

lines as (
    select * from {{ ref('stg_shopify__order_lines') }}
),

people as (
    select source_record_id as shopify_customer_id, customer_id
    from {{ ref('int_customer_records__resolved') }}
    where source = 'shopify'
)

select
    lines.order_line_id,
    lines.order_id,
    people.customer_id,
    lines.shopify_customer_id,
    lines.product_id,
    lines.variant_id,
    lines.sku,
    lines.title as product_title,
    lines.category,
    lines.quantity,
    lines.unit_price,
    lines.line_total,
    lines.currency_code,
    lines.is_cancelled,
    lines.ordered_at
from lines
left join people using (shopify_customer_id)
