with

source as (
    select * from {{ source('hubspot', 'contacts') }}
),

latest as (
    select * from source
    qualify row_number() over (partition by id order by updated_at desc, interval_end desc) = 1
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
        {{ payload('$.properties.phone') }} as phone,
        {{ payload('$.properties.city') }} as city,
        {{ payload('$.properties.state') }} as region_code,
        {{ payload('$.properties.country') }} as country_code,
        {{ payload('$.properties.zip') }} as postal_code,
        lower({{ payload('$.properties.lifecyclestage') }}) as lifecycle_stage,
        {{ payload('$.properties.hs_lead_status') }} as lead_status,

        ---------- booleans
        coalesce(lower({{ payload('$.properties.hs_email_optout') }}) = 'true', false)
            as has_opted_out_of_email,
        coalesce(json_extract(payload, '$.archived')::boolean, false) as is_deleted,

        ---------- timestamps
        {{ to_utc(payload('$.properties.createdate')) }} as created_at,
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
