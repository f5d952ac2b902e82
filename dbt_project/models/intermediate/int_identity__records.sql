-- The records identity resolution works on, with the keys it matches on. Placeholder
-- identifiers are blanked here, so no rule can link two records through them.
-- `tailor identity resolve` points this model at a file of person records instead
-- (var `tailor_identity_input`), so a file is resolved by exactly the same SQL.
with

records as (
    {%- if var('tailor_identity_input', none) %}
    {{ identity_normalise_records("read_parquet('" ~ var('tailor_identity_input') ~ "')") }}
    {%- else %}
    select * from {{ ref('int_customer_records__unioned') }}
    {%- endif %}
),

-- The match keys, placeholders blanked.
keyed as (
    select
        record_key,
        source,
        source_record_id,
        case
            when is_email_valid
                and email not in {{ identity_sql_list(var('tailor_identity_placeholder_emails')) }}
                then email
        end as email_key,
        case
            when phone_e164 not in {{ identity_sql_list(var('tailor_identity_placeholder_phones')) }}
                -- the last seven digits all alike: 555-5555, 000-0000
                and replace(right(phone_e164, 7), right(phone_e164, 1), '') <> ''
                then phone_e164
        end as phone_key,
        case when first_name_key not in ('anonymous', 'unknown', 'test', 'na', 'none')
            then first_name_key end as first_name_key,
        case when first_name_key not in ('anonymous', 'unknown', 'test', 'na', 'none')
            then first_name_canonical end as first_name_canonical,
        case when last_name_key not in ('anonymous', 'unknown', 'test', 'na', 'none')
            then last_name_key end as last_name_key,
        postal_key,
        address_key,
        created_at
    from records
    where not is_deleted
)

select *, {{ identity_match_fingerprint() }} as match_fingerprint
from keyed
