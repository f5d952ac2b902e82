-- Viewed one product at least N times in the window before as_of and did not buy it in
-- that window. One row per person: the product viewed most (then most recently).
{%- set days = var('tailor_viewed_not_bought_window_days') %}
{%- set min_views = var('tailor_viewed_not_bought_min_views') %}
with

views as (
    select customer_id, product_id, count(*) as views_in_window, max(occurred_at) as last_viewed_at
    from {{ ref('fct_events') }}
    where customer_id is not null
      and product_id is not null
      and event_name = 'Product Viewed'
      and occurred_at >= {{ as_of() }} - interval '{{ days }} day'
      and occurred_at < {{ as_of() }}
    group by customer_id, product_id
    having count(*) >= {{ min_views }}
),

bought as (
    select distinct customer_id, product_id
    from {{ ref('fct_order_lines') }}
    where customer_id is not null
      and not is_cancelled
      and ordered_at >= {{ as_of() }} - interval '{{ days }} day'
      and ordered_at < {{ as_of() }}
),

products as (
    select product_id, title from {{ ref('stg_shopify__products') }}
),

unbought_views as (
    select views.*
    from views
    left join bought using (customer_id, product_id)
    where bought.product_id is null
),

not_bought as (
    {{ first_row_per('unbought_views', 'customer_id', 'views_in_window desc, last_viewed_at desc, product_id') }}
)

select
    not_bought.customer_id,
    not_bought.product_id,
    coalesce(products.title, not_bought.product_id) as product_title,
    not_bought.views_in_window,
    not_bought.last_viewed_at,
    'viewed ' || coalesce(products.title, not_bought.product_id) || ' '
        || not_bought.views_in_window || ' times in the {{ days }} days before as_of, '
        || 'not bought' as reason
from not_bought
left join products using (product_id)
