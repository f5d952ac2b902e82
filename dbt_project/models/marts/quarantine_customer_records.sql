-- Person records that cannot become part of a profile, with the reason. Flagged for
-- review, never silently dropped. A record with a bad email that links to a profile by
-- another identifier (a phone) is not here: it is part of that profile.
with

records as (
    select * from {{ ref('int_customer_records__unioned') }}
),

profiled as (
    select record_key from {{ ref('int_customer_records__resolved') }}
)

select
    source,
    source_record_id,
    email_raw,
    case
        when is_deleted then 'deleted in source'
        when email_raw is null then 'missing email'
        when not is_email_valid then 'invalid email'
        else 'placeholder email'
    end as reason,
    updated_at
from records
where record_key not in (select record_key from profiled)
