-- RECS: up to N products a person has not bought, best first: the bestsellers (by sales
-- in the window before as_of) of the person's favourite categories (most bought and
-- viewed before as_of), then the store's bestsellers to fill the rest. One row per person
-- with anything to recommend.
{%- set count = var('tailor_recs_count') | int %}
{%- set categories = var('tailor_recs_categories') | int %}
{%- set days = var('tailor_recs_sales_window_days') %}
with

lines as (
    select customer_id, product_id, product_title, category, quantity, line_total, ordered_at
    from {{ ref('fct_order_lines') }}
    where ordered_at < {{ as_of() }} and product_id is not null and not is_cancelled
),

category_points as (
    select customer_id, category, quantity as points, ordered_at as point_at
    from lines
    where customer_id is not null and category is not null
    union all
    select customer_id, category, 1, occurred_at
    from {{ ref('fct_events') }}
    where customer_id is not null
      and category is not null
      and event_name = 'Product Viewed'
      and occurred_at < {{ as_of() }}
),

favourite_categories as (
    select * from (
    select
        customer_id,
        category,
        row_number() over (
            partition by customer_id order by sum(points) desc, max(point_at) desc, category
        ) as category_rank
    from category_points
    group by customer_id, category
    ) as ranked_categories
    where category_rank <= {{ categories }}
),

bestsellers as (
    select
        product_id,
        max(product_title) as product_title,
        max(category) as category,
        row_number() over (
            partition by max(category) order by sum(line_total) desc, product_id
        ) as rank_in_category,
        row_number() over (order by sum(line_total) desc, product_id) as rank_overall
    from lines
    where ordered_at >= {{ as_of() }} - interval '{{ days }} day'
    group by product_id
),

bought as (
    select distinct customer_id, product_id from lines where customer_id is not null
),

candidates as (
    select
        favourite_categories.customer_id,
        bestsellers.product_id,
        bestsellers.product_title,
        1 as source_rank,
        favourite_categories.category_rank,
        bestsellers.rank_in_category as product_rank
    from favourite_categories
    inner join bestsellers using (category)
    union all
    -- enough store bestsellers to fill N even after the person's purchases are removed
    select
        customers.customer_id,
        bestsellers.product_id,
        bestsellers.product_title,
        2,
        0,
        bestsellers.rank_overall
    from {{ ref('dim_customers') }} as customers
    cross join bestsellers
    where bestsellers.rank_overall <= {{ count }} + (
        select count(*) from bought where bought.customer_id = customers.customer_id
    )
),

picked as (
    {{ first_row_per('''(
        select candidates.* from candidates
        where not exists (
            select 1 from bought
            where bought.customer_id = candidates.customer_id
                and bought.product_id = candidates.product_id
        )
    ) as not_bought''', 'customer_id, product_id', 'source_rank, category_rank, product_rank') }}
),

ranked as (
    select * from (
    select
        *,
        row_number() over (
            partition by customer_id order by source_rank, category_rank, product_rank
        ) as pick
    from picked
    ) as numbered
    where pick <= {{ count }}
)

select
    customer_id,
    string_agg(product_title, ', ' order by pick) as recommendations,
    count(*) as recommendation_count,
    bool_or(source_rank = 1) as is_personalised
from ranked
group by customer_id
