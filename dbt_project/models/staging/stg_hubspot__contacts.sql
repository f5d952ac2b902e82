with

source as (
    select * from {{ landing_source('hubspot', 'contacts') }}
),

latest as (
    {{ first_row_per('source', 'id', 'updated_at desc, interval_end desc') }}
),

renamed as (
    select
        ---------- ids
        id as hubspot_contact_id,

        ---------- strings
        {{ payload('$.properties.firstname') }} as first_name,
        {{ payload('$.properties.lastname') }} as last_name,
        {{ payload('$.properties.email') }} as email_raw,
        {{ normalise_email(payload('$.properties.email')) }} as email,
        {{ payload('$.properties.phone') }} as phone_raw,
        {{ payload('$.properties.address') }} as address_line_1,
        {{ payload('$.properties.city') }} as city,
        {{ payload('$.properties.state') }} as region_raw,
        {{ payload('$.properties.country') }} as country_raw,
        {{ payload('$.properties.zip') }} as postal_code,
        lower({{ payload('$.properties.lifecyclestage') }}) as lifecycle_stage,
        {{ payload('$.properties.hs_lead_status') }} as lead_status,

        ---------- booleans
        coalesce(lower({{ payload('$.properties.hs_email_optout') }}) = 'true', false)
            as has_opted_out_of_email,
        coalesce({{ json_value('payload', '$.archived') }}::boolean, false) as is_deleted,

        ---------- timestamps
        {{ to_utc(payload('$.properties.createdate')) }} as created_at,
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
        hubspot_contact_id, first_name, last_name, email_raw, email, address_line_1, city,
        country_raw, postal_code, lifecycle_stage, lead_status, has_opted_out_of_email,
        is_deleted, created_at, updated_at, is_email_valid, country_code,
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
