with

source as (
    select * from {{ source('shopify', 'customers') }}
),

latest as (
    -- A record lands again in every window where it changed: keep its newest version.
    select * from source
    qualify row_number() over (partition by id order by updated_at desc, interval_end desc) = 1
),

renamed as (
    select
        ---------- ids
        id as shopify_customer_id,

        ---------- strings
        {{ payload('$.firstName') }} as first_name,
        {{ payload('$.lastName') }} as last_name,
        {{ payload('$.email') }} as email_raw,
        {{ normalise_email(payload('$.email')) }} as email,
        {{ payload('$.phone') }} as phone,
        {{ payload('$.locale') }} as locale,
        {{ payload('$.defaultAddress.city') }} as city,
        {{ payload('$.defaultAddress.provinceCode') }} as region_code,
        {{ payload('$.defaultAddress.countryCodeV2') }} as country_code,
        {{ payload('$.defaultAddress.zip') }} as postal_code,
        lower({{ payload('$.emailMarketingConsent.marketingState') }}) as email_marketing_state,

        ---------- numerics
        cast({{ payload('$.numberOfOrders') }} as bigint) as number_of_orders,
        cast({{ payload('$.amountSpent.amount') }} as decimal(18, 2)) as amount_spent,

        ---------- timestamps
        {{ to_utc(payload('$.createdAt')) }} as created_at,
        {{ to_utc(payload('$.emailMarketingConsent.consentUpdatedAt')) }} as email_consent_updated_at,
        (updated_at at time zone 'UTC') as updated_at

    from latest
),

flagged as (
    select
        *,
        {{ is_valid_email('email') }} as is_email_valid
    from renamed
)

select * from flagged
