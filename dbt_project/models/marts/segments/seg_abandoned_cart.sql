-- A cart abandoned in the hours before as_of and still open: fct_abandoned_checkouts
-- decides what counts as abandoned (not completed, idle long enough, no order by the
-- person since it began, all relative to as_of). One row per person: the newest such
-- cart, with its value and items.
{%- set hours = var('tailor_abandoned_cart_window_hours') %}
with

recent_carts as (
    select
        customer_id,
        checkout_id,
        total_price,
        line_item_count,
        {{ cart_items_text('items') }} as items,
        abandoned_at
    from {{ ref('fct_abandoned_checkouts') }}
    where customer_id is not null
      and is_abandoned
      and abandoned_at >= {{ as_of() }} - interval '{{ hours }} hour'
      and abandoned_at < {{ as_of() }}
),

open_carts as (
    {{ first_row_per('recent_carts', 'customer_id', 'abandoned_at desc, checkout_id desc') }}
)

select
    customer_id,
    checkout_id,
    total_price as cart_value,
    line_item_count as cart_item_count,
    items as cart_items,
    abandoned_at,
    'cart of ' || printf('%.2f', total_price) || ' (' || line_item_count || ' items) abandoned '
        || strftime(abandoned_at, '%Y-%m-%d %H:%M') || ', no order since' as reason
from open_carts
