with

source as (
    select * from {{ landing_source('hubspot', 'contacts') }}
),

latest as (
    {{ first_row_per('source', 'id', 'updated_at desc, interval_end desc') }}
),

-- One JSON parse per contact into the fields read below (each path read on its own
-- would parse the payload again).
parsed as (
    select
        id,
        updated_at,
        {{ json_parse('payload', '{
            "archived": "VARCHAR",
            "properties": {
                "firstname": "VARCHAR", "lastname": "VARCHAR", "email": "VARCHAR",
                "phone": "VARCHAR", "address": "VARCHAR", "city": "VARCHAR", "state": "VARCHAR",
                "country": "VARCHAR", "zip": "VARCHAR", "lifecyclestage": "VARCHAR",
                "hs_lead_status": "VARCHAR", "hs_email_optout": "VARCHAR", "createdate": "VARCHAR"
            }
        }') }} as p
    from latest
),

renamed as (
    select
        ---------- ids
        id as hubspot_contact_id,

        ---------- strings
        {{ nonblank(json_field('p', 'properties.firstname')) }} as first_name,
        {{ nonblank(json_field('p', 'properties.lastname')) }} as last_name,
        {{ nonblank(json_field('p', 'properties.email')) }} as email_raw,
        {{ normalise_email(json_field('p', 'properties.email')) }} as email,
        {{ nonblank(json_field('p', 'properties.phone')) }} as phone_raw,
        {{ nonblank(json_field('p', 'properties.address')) }} as address_line_1,
        {{ nonblank(json_field('p', 'properties.city')) }} as city,
        {{ nonblank(json_field('p', 'properties.state')) }} as region_raw,
        {{ nonblank(json_field('p', 'properties.country')) }} as country_raw,
        {{ nonblank(json_field('p', 'properties.zip')) }} as postal_code,
        lower({{ nonblank(json_field('p', 'properties.lifecyclestage')) }}) as lifecycle_stage,
        {{ nonblank(json_field('p', 'properties.hs_lead_status')) }} as lead_status,

        ---------- booleans
        coalesce(lower({{ nonblank(json_field('p', 'properties.hs_email_optout')) }}) = 'true', false)
            as has_opted_out_of_email,
        coalesce(cast({{ json_field('p', 'archived') }} as boolean), false) as is_deleted,

        ---------- timestamps
        {{ to_utc(nonblank(json_field('p', 'properties.createdate'))) }} as created_at,
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
