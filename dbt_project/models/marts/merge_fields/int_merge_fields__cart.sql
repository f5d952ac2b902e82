-- CARTTOTAL and CARTITEMS: the person's newest cart abandoned in the
-- `tailor_cart_recovery_window_days` days before as_of and still open
-- (fct_abandoned_checkouts.is_abandoned: not completed, no order since, as of as_of).
{%- set days = var('tailor_cart_recovery_window_days') %}
with

recent as (
    select * from {{ ref('fct_abandoned_checkouts') }}
    where customer_id is not null
      and is_abandoned
      and abandoned_at >= {{ as_of() }} - interval '{{ days }} day'
      and abandoned_at < {{ as_of() }}
)

select
    customer_id,
    checkout_id,
    total_price as cart_value,
    line_item_count as cart_item_count,
    {{ cart_items_text('items') }} as cart_items,
    abandoned_at
from ({{ first_row_per('recent', 'customer_id', 'abandoned_at desc, checkout_id desc') }}) as newest
