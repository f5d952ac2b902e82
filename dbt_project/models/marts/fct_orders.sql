-- One row per Shopify order, tied to the person who placed it.
with

orders as (
    select * from {{ ref('stg_shopify__orders') }}
),

people as (
    select source_record_id as shopify_customer_id, customer_id
    from {{ ref('int_customer_records__resolved') }}
    where source = 'shopify'
)

select
    orders.order_id,
    people.customer_id,
    orders.shopify_customer_id,
    orders.order_name,
    orders.currency_code,
    orders.total_price,
    orders.line_item_count,
    orders.is_cancelled,
    orders.created_at,
    orders.processed_at,
    orders.cancelled_at,
    orders.updated_at
from orders
left join people using (shopify_customer_id)
