-- At least one order (not cancelled) in the window of days before as_of.
{%- set days = var('tailor_recent_purchase_window_days') %}
select
    customer_id,
    count(*) as orders_in_window,
    max(created_at) as last_order_at,
    'last order ' || strftime(max(created_at), '%Y-%m-%d')
        || ', within the {{ days }} days before as_of' as reason
from {{ ref('fct_orders') }}
where customer_id is not null
  and not is_cancelled
  and created_at >= {{ as_of() }} - interval '{{ days }} day'
  and created_at < {{ as_of() }}
group by customer_id
