-- People who viewed or bought products of one category (var tailor_interest_category) in
-- the window before as_of: at least N views, or at least one purchase.
{%- set category = var('tailor_interest_category') %}
{%- set days = var('tailor_interest_window_days') %}
{%- set min_views = var('tailor_interest_min_views') %}
with

views as (
    select customer_id, count(*) as category_views
    from {{ ref('fct_events') }}
    where customer_id is not null
      and event_name = 'Product Viewed'
      and category = '{{ category }}'
      and occurred_at >= {{ as_of() }} - interval '{{ days }} day'
      and occurred_at < {{ as_of() }}
    group by customer_id
),

purchases as (
    select customer_id, count(distinct order_id) as category_orders
    from {{ ref('fct_order_lines') }}
    where customer_id is not null
      and not is_cancelled
      and category = '{{ category }}'
      and ordered_at >= {{ as_of() }} - interval '{{ days }} day'
      and ordered_at < {{ as_of() }}
    group by customer_id
),

interest as (
    select
        customer_id,
        coalesce(views.category_views, 0) as category_views,
        coalesce(purchases.category_orders, 0) as category_orders
    from views
    full outer join purchases using (customer_id)
)

select
    customer_id,
    '{{ category }}' as category,
    category_views,
    category_orders,
    category_views || ' views and ' || category_orders || ' orders of {{ category }} in the '
        || '{{ days }} days before as_of' as reason
from interest
where category_views >= {{ min_views }}
   or category_orders > 0
