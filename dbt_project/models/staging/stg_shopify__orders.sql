with

source as (
    select * from {{ landing_source('shopify', 'orders') }}
),

latest as (
    {{ first_row_per('source', 'id', 'updated_at desc, interval_end desc') }}
),

renamed as (
    select
        ---------- ids
        id as order_id,
        {{ payload('$.customer.id') }} as shopify_customer_id,

        ---------- strings
        {{ payload('$.name') }} as order_name,
        {{ normalise_email(payload('$.email')) }} as email,
        {{ payload('$.currencyCode') }} as currency_code,

        ---------- numerics
        cast({{ payload('$.totalPriceSet.shopMoney.amount') }} as decimal(18, 2)) as total_price,
        coalesce({{ json_array_length_at('payload', '$.lineItems') }}, 0) as line_item_count,

        ---------- booleans
        {{ payload('$.cancelledAt') }} is not null as is_cancelled,

        ---------- timestamps
        {{ to_utc(payload('$.createdAt')) }} as created_at,
        {{ to_utc(payload('$.processedAt')) }} as processed_at,
        {{ to_utc(payload('$.cancelledAt')) }} as cancelled_at,
        (updated_at at time zone 'UTC') as updated_at

    from latest
)

select * from renamed
