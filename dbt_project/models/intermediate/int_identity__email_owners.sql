-- Which profile an email address reaches: one row per valid email held by a resolved
-- record. When records of two profiles hold one email (a family address), the profile
-- that signed up first owns it, as in dim_customers, so activity an ESP reports for that
-- address lands on the profile the address is sent to.
with

records as (
    select * from {{ ref('int_customer_records__resolved') }}
),

profiles as (
    select customer_id, min(created_at) as signed_up_at
    from records
    group by customer_id
),

holders as (
    select distinct records.email, records.customer_id, profiles.signed_up_at
    from records
    inner join profiles using (customer_id)
    where records.is_email_valid and records.email is not null
),

counted as (
    select *, count(*) over (partition by email) as profiles_holding
    from holders
)

select email, customer_id, profiles_holding
from ({{ first_row_per('counted', 'email', 'signed_up_at nulls last, customer_id') }}) as owners
