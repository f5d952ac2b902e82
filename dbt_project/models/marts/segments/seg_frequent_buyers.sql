-- More than N orders (not cancelled) in the window of days before as_of.
{%- set over = var('tailor_frequent_buyer_orders_over') %}
{%- set days = var('tailor_frequent_buyer_window_days') %}
with

recent_orders as (
    select customer_id, count(*) as orders_in_window, max(created_at) as last_order_at
    from {{ ref('fct_orders') }}
    where customer_id is not null
      and not is_cancelled
      and created_at >= {{ as_of() }} - interval '{{ days }} day'
      and created_at < {{ as_of() }}
    group by customer_id
)

select
    customer_id,
    orders_in_window,
    last_order_at,
    orders_in_window || ' orders in the {{ days }} days before as_of (more than {{ over }})'
        as reason
from recent_orders
where orders_in_window > {{ over }}
