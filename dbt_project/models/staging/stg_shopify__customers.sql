with

source as (
    select * from {{ landing_source('shopify', 'customers') }}
),

latest as (
    -- A record lands again in every window where it changed: keep its newest version.
    {{ first_row_per('source', 'id', 'updated_at desc, interval_end desc') }}
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
        {{ payload('$.phone') }} as phone_raw,
        {{ payload('$.locale') }} as locale,
        {{ payload('$.defaultAddress.address1') }} as address_line_1,
        {{ payload('$.defaultAddress.city') }} as city,
        {{ payload('$.defaultAddress.provinceCode') }} as region_raw,
        coalesce(
            {{ payload('$.defaultAddress.countryCodeV2') }},
            {{ payload('$.defaultAddress.country') }}
        ) as country_raw,
        {{ payload('$.defaultAddress.zip') }} as postal_code,
        lower({{ payload('$.emailMarketingConsent.marketingState') }}) as email_marketing_state,

        ---------- numerics
        cast({{ payload('$.numberOfOrders') }} as bigint) as number_of_orders,
        cast({{ payload('$.amountSpent.amount') }} as decimal(18, 2)) as amount_spent,

        ---------- booleans
        -- Shopify deletes customers outright (no tombstone in the Admin API); the flag
        -- keeps every person-record model in one shape.
        false as is_deleted,

        ---------- timestamps
        {{ to_utc(payload('$.createdAt')) }} as created_at,
        {{ to_utc(payload('$.emailMarketingConsent.consentUpdatedAt')) }} as email_consent_updated_at,
        (updated_at at time zone 'UTC') as updated_at

    from latest
),

normalised as (
    select
        *,
        {{ identity_email_is_valid('email') }} as is_email_valid,
        {{ identity_country_code('country_raw') }} as country_code
    from renamed
),

keyed as (
    select
        shopify_customer_id, first_name, last_name, email_raw, email, locale,
        address_line_1, city, country_raw, postal_code, email_marketing_state,
        number_of_orders, amount_spent, is_deleted, created_at, email_consent_updated_at,
        updated_at, is_email_valid, country_code,
        phone_raw as phone,
        {{ identity_phone_e164('phone_raw', 'country_code') }} as phone_e164,
        coalesce({{ identity_region_code('region_raw', 'country_code') }}, region_raw)
            as region_code,
        {{ identity_name_key('first_name') }} as first_name_key,
        {{ identity_first_name_key('first_name') }} as first_name_canonical,
        {{ identity_name_key('last_name') }} as last_name_key,
        {{ identity_postal_key('postal_code') }} as postal_key,
        {{ identity_address_key('address_line_1') }} as address_key
    from normalised
)

select * from keyed
