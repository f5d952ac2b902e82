-- Every merge field a segment can send, one row per person, as Mailchimp text: never
-- null or blank (each has a fallback), at most 255 characters. Column names are the
-- merge tags in lower case; a segment names the ones it sends in meta.audience.merge_fields.
{%- set banner_days = var('tailor_banner_window_days') %}
with

customers as (
    select * from {{ ref('dim_customers') }}
),

recommendations as (
    select * from {{ ref('int_merge_fields__recommendations') }}
),

stores as (
    select * from {{ ref('int_merge_fields__nearest_store') }}
),

cross_sell as (
    select * from {{ ref('int_merge_fields__cross_sell') }}
),

carts as (
    select * from {{ ref('int_merge_fields__cart') }}
)

select
    customers.customer_id,
    {{ merge_value('customers.first_name', "'" ~ var('tailor_fname_fallback') ~ "'") }} as fname,
    {{ merge_value('customers.last_name') }} as lname,
    {{ merge_value('customers.orders_count', "'0'") }} as orders,
    {{ merge_value("printf('%.2f', customers.total_spent)", "'0.00'") }} as spent,
    {{ merge_value("strftime(customers.last_order_at, '%Y-%m-%d')") }} as lastorder,
    {{ merge_value('recommendations.recommendations', "'" ~ var('tailor_recs_fallback') ~ "'") }}
        as recs,
    {{ merge_value('stores.store_name', "'" ~ var('tailor_store_fallback') ~ "'") }} as store,
    {{ merge_value('stores.promotion', "'" ~ var('tailor_promo_fallback') ~ "'") }} as promo,
    {{ merge_value('cross_sell.cross_sell_category', "'" ~ var('tailor_cross_sell_fallback') ~ "'") }}
        as xsell,
    case
        when customers.last_order_at >= {{ as_of() }} - interval '{{ banner_days }} day'
            and customers.last_order_at < {{ as_of() }} then 'THANKYOU'
        else 'NEWARRIVAL'
    end as banner,
    {{ merge_value("printf('%.2f', carts.cart_value)", "'0.00'") }} as carttotal,
    {{ merge_value('carts.cart_items', "'" ~ var('tailor_cart_items_fallback') ~ "'") }}
        as cartitems
from customers
left join recommendations using (customer_id)
left join stores using (customer_id)
left join cross_sell using (customer_id)
left join carts using (customer_id)
