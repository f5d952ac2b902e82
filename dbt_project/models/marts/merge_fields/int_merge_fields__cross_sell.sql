-- XSELL: the category to suggest after the person's last purchase (seed
-- category_cross_sell: category -> complementary category), from the newest order line
-- before as_of. One row per person who bought something.
with

bought as (
    select customer_id, category, product_title, ordered_at, order_line_id
    from {{ ref('fct_order_lines') }}
    where customer_id is not null and not is_cancelled and ordered_at < {{ as_of() }}
),

last_line as (
    select customer_id, category, product_title, ordered_at
    from ({{ first_row_per('bought', 'customer_id', 'ordered_at desc, order_line_id desc') }}) as newest
)

select
    last_line.customer_id,
    last_line.category as last_purchased_category,
    last_line.product_title as last_purchased_product,
    cross_sell.cross_sell_category
from last_line
left join {{ ref('category_cross_sell') }} as cross_sell using (category)
