-- STORE and PROMO: the store nearest to a person, by the best match of the seed `stores`:
-- same city (and country) > same region (and country) > same country > the default store
-- (var tailor_default_store_id). Within a level the smallest store id wins.
with

customers as (
    select
        customer_id,
        nullif(lower(trim(city)), '') as city,
        nullif(upper(trim(region_code)), '') as region_code,
        nullif(upper(trim(country_code)), '') as country_code
    from {{ ref('dim_customers') }}
),

stores as (
    select
        *,
        nullif(lower(trim(city)), '') as city_key,
        nullif(upper(trim(region_code)), '') as region_key,
        nullif(upper(trim(country_code)), '') as country_key
    from {{ ref('stores') }}
),

matches as (
    select
        customers.customer_id,
        stores.store_id,
        case
            when stores.city_key = customers.city
                and (stores.region_key is null or customers.region_code is null
                    or stores.region_key = customers.region_code) then 'city'
            when stores.region_key = customers.region_code then 'region'
            else 'country'
        end as matched_on
    from customers
    inner join stores
        on stores.country_key = customers.country_code
),

best as (
    {{ first_row_per(
        'matches', 'customer_id',
        "case matched_on when 'city' then 1 when 'region' then 2 else 3 end, store_id"
    ) }}
),

chosen as (
    select
        customers.customer_id,
        coalesce(best.store_id, '{{ var("tailor_default_store_id") }}') as store_id,
        coalesce(best.matched_on, 'default') as matched_on
    from customers
    left join best using (customer_id)
)

select
    chosen.customer_id,
    chosen.store_id,
    chosen.matched_on,
    stores.store_name,
    stores.promotion
from chosen
left join stores using (store_id)
