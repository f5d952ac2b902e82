-- Identity, first step: records with the same valid normalised email are one person.
-- A record without a valid email cannot be matched; it goes to quarantine instead.
select
    'cus_' || substr(md5('email:' || email), 1, 20) as customer_id,
    case source when 'shopify' then 2 else 1 end as source_priority,
    *
from {{ ref('int_customer_records__unioned') }}
where is_email_valid
