with

source as (
    select * from {{ landing_source('shopify', 'customers') }}
),

latest as (
    -- A record lands again in every window where it changed: keep its newest version.
    {{ first_row_per('source', 'id', 'updated_at desc, interval_end desc') }}
),

-- One JSON parse per customer into the fields read below (each path read on its own
-- would parse the payload again).
parsed as (
    select
        id,
        updated_at,
        {{ json_parse('payload', '{
            "firstName": "VARCHAR", "lastName": "VARCHAR", "email": "VARCHAR",
            "phone": "VARCHAR", "locale": "VARCHAR",
            "defaultAddress": {
                "address1": "VARCHAR", "city": "VARCHAR", "provinceCode": "VARCHAR",
                "countryCodeV2": "VARCHAR", "country": "VARCHAR", "zip": "VARCHAR"
            },
            "emailMarketingConsent": {"marketingState": "VARCHAR", "consentUpdatedAt": "VARCHAR"},
            "numberOfOrders": "VARCHAR", "amountSpent": {"amount": "VARCHAR"},
            "createdAt": "VARCHAR"
        }') }} as p
    from latest
),

renamed as (
    select
        ---------- ids
        id as shopify_customer_id,

        ---------- strings
        {{ nonblank(json_field('p', 'firstName')) }} as first_name,
        {{ nonblank(json_field('p', 'lastName')) }} as last_name,
        {{ nonblank(json_field('p', 'email')) }} as email_raw,
        {{ normalise_email(json_field('p', 'email')) }} as email,
        {{ nonblank(json_field('p', 'phone')) }} as phone_raw,
        {{ nonblank(json_field('p', 'locale')) }} as locale,
        {{ nonblank(json_field('p', 'defaultAddress.address1')) }} as address_line_1,
        {{ nonblank(json_field('p', 'defaultAddress.city')) }} as city,
        {{ nonblank(json_field('p', 'defaultAddress.provinceCode')) }} as region_raw,
        coalesce(
            {{ nonblank(json_field('p', 'defaultAddress.countryCodeV2')) }},
            {{ nonblank(json_field('p', 'defaultAddress.country')) }}
        ) as country_raw,
        {{ nonblank(json_field('p', 'defaultAddress.zip')) }} as postal_code,
        lower({{ nonblank(json_field('p', 'emailMarketingConsent.marketingState')) }}) as email_marketing_state,

        ---------- numerics
        cast({{ nonblank(json_field('p', 'numberOfOrders')) }} as bigint) as number_of_orders,
        cast({{ nonblank(json_field('p', 'amountSpent.amount')) }} as decimal(18, 2)) as amount_spent,

        ---------- booleans
        -- Shopify deletes customers outright (no tombstone in the Admin API); the flag
        -- keeps every person-record model in one shape.
        false as is_deleted,

        ---------- timestamps
        {{ to_utc(nonblank(json_field('p', 'createdAt'))) }} as created_at,
        {{ to_utc(nonblank(json_field('p', 'emailMarketingConsent.consentUpdatedAt'))) }} as email_consent_updated_at,
        (updated_at at time zone 'UTC') as updated_at

    from parsed
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
