-- Records that belong to a profile, each with its person's customer_id. A profile needs
-- at least one usable email among its records (it exists to be reached); the records of
-- a cluster without one go to quarantine_customer_records with the reason.
with

-- The id map keeps records that have left the sources; only current ones count.
ids as (
    select ids.customer_id, ids.record_key
    from {{ ref('int_identity__customer_ids') }} as ids
    inner join {{ ref('int_identity__records') }} using (record_key)
),

reachable as (
    select ids.customer_id
    from ids
    inner join {{ ref('int_identity__records') }} as records using (record_key)
    group by ids.customer_id
    having count(records.email_key) > 0
)

select
    ids.customer_id,
    case records.source when 'shopify' then 2 else 1 end as source_priority,
    records.*
from {{ ref('int_customer_records__unioned') }} as records
inner join ids using (record_key)
where ids.customer_id in (select customer_id from reachable)
