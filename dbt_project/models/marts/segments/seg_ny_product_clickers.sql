-- A rule composed of AND, OR and NOT, each condition its own CTE of people:
--
--     (clicked product A OR clicked product B)
--     AND located in the region (New York)
--     AND last purchase within the window before as_of
--     AND NOT unsubscribed
--
-- "Clicked a product" is a tracked click on it (viewed or added it to the cart) in the
-- window. Products, region and window are dbt vars (tailor_nested_rule_*).
{%- set products = var('tailor_nested_rule_products') %}
{%- set country = var('tailor_nested_rule_country') %}
{%- set region = var('tailor_nested_rule_region') %}
{%- set days = var('tailor_nested_rule_window_days') %}
with

customers as (
    select * from {{ ref('dim_customers') }}
),

catalogue as (
    select product_id, title from {{ ref('stg_shopify__products') }}
),

clicks as (
    select events.customer_id, catalogue.title
    from {{ ref('fct_events') }} as events
    inner join catalogue using (product_id)
    where events.customer_id is not null
      and events.event_name in ('Product Viewed', 'Product Added')
      and events.occurred_at >= {{ as_of() }} - interval '{{ days }} day'
      and events.occurred_at < {{ as_of() }}
),

{%- for product in products %}

clicked_product_{{ loop.index }} as (  -- {{ product }}
    select distinct customer_id from clicks where title = '{{ product | replace("'", "''") }}'
),
{%- endfor %}

in_region as (
    select customer_id from customers
    where country_code = '{{ country }}' and region_code = '{{ region }}'
),

purchased_recently as (
    select customer_id from customers
    where last_order_at >= {{ as_of() }} - interval '{{ days }} day'
      and last_order_at < {{ as_of() }}
),

unsubscribed as (
    select customer_id from customers where email_consent_state = 'unsubscribed'
),

flags as (
    select
        customer_id,
        {%- for product in products %}
        customer_id in (select customer_id from clicked_product_{{ loop.index }})
            as clicked_product_{{ loop.index }},
        {%- endfor %}
        customer_id in (select customer_id from in_region) as is_in_region,
        customer_id in (select customer_id from purchased_recently) as purchased_recently,
        customer_id in (select customer_id from unsubscribed) as is_unsubscribed
    from customers
)

select
    customer_id,
    {%- for product in products %}
    clicked_product_{{ loop.index }},
    {%- endfor %}
    'clicked '
        {%- for product in products %}
        || case when clicked_product_{{ loop.index }} then '{{ product | replace("'", "''") }}; ' else '' end
        {%- endfor %}
        || 'in {{ region }} {{ country }}; bought within {{ days }} days; not unsubscribed' as reason
from flags
where (
        {%- for product in products %}
        clicked_product_{{ loop.index }}{% if not loop.last %} or{% endif %}
        {%- endfor %}
    )
    and is_in_region
    and purchased_recently
    and not is_unsubscribed
