-- Person records that cannot become part of a profile, with the reason. Flagged for
-- review, never silently dropped.
select
    source,
    source_record_id,
    email_raw,
    case
        when email_raw is null then 'missing email'
        else 'invalid email'
    end as reason,
    updated_at
from {{ ref('int_customer_records__unioned') }}
where not is_email_valid
