with

source as (
    select * from {{ landing_source('shopify', 'orders') }}
),

latest as (
    {{ first_row_per('source', 'id', 'updated_at desc, interval_end desc') }}
),

-- One JSON parse per order into the fields read below (each path read on its own would
-- parse the payload again).
parsed as (
    select
        id,
        updated_at,
        {{ json_parse('payload', '{
            "customer": {"id": "VARCHAR"}, "name": "VARCHAR", "email": "VARCHAR",
            "currencyCode": "VARCHAR", "totalPriceSet": {"shopMoney": {"amount": "VARCHAR"}},
            "lineItems": "JSON", "createdAt": "VARCHAR", "processedAt": "VARCHAR",
            "cancelledAt": "VARCHAR"
        }') }} as p
    from latest
),

renamed as (
    select
        ---------- ids
        id as order_id,
        {{ nonblank(json_field('p', 'customer.id')) }} as shopify_customer_id,

        ---------- strings
        {{ nonblank(json_field('p', 'name')) }} as order_name,
        {{ normalise_email(json_field('p', 'email')) }} as email,
        {{ nonblank(json_field('p', 'currencyCode')) }} as currency_code,

        ---------- numerics
        cast({{ nonblank(json_field('p', 'totalPriceSet.shopMoney.amount')) }} as decimal(18, 2)) as total_price,
        coalesce({{ json_array_length_at(json_field('p', 'lineItems', 'json'), '$') }}, 0) as line_item_count,

        ---------- booleans
        {{ nonblank(json_field('p', 'cancelledAt')) }} is not null as is_cancelled,

        ---------- timestamps
        {{ to_utc(nonblank(json_field('p', 'createdAt'))) }} as created_at,
        {{ to_utc(nonblank(json_field('p', 'processedAt'))) }} as processed_at,
        {{ to_utc(nonblank(json_field('p', 'cancelledAt'))) }} as cancelled_at,
        (updated_at at time zone 'UTC') as updated_at

    from parsed
)

select * from renamed
