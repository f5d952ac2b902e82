-- One person per anonymous id: the first identification of the id (an identify call, or
-- a track call carrying a userId) that resolves to a profile. userId is the Shopify
-- customer's numeric id; an identify with only an email reaches the profile that owns the
-- email. Events of the anonymous id before the login then count for that person.
-- A shared device (an id later identified as someone else) keeps its first person;
-- `people_count` shows it. Aggregates rather than windows: millions of calls carry a
-- userId, but few distinct (anonymous id, user) pairs.
with

identifications as (
    select
        anonymous_id,
        user_id,
        shopify_customer_id,
        email,
        min(occurred_at) as first_at,
        max(occurred_at) as last_at
    from {{ ref('stg_events__identifies') }}
    group by all
),

shopify_people as (
    select source_record_id as shopify_customer_id, customer_id
    from {{ ref('int_customer_records__resolved') }}
    where source = 'shopify'
),

email_owners as (
    select email, customer_id from {{ ref('int_identity__email_owners') }}
),

resolved as (
    select
        identifications.*,
        coalesce(shopify_people.customer_id, email_owners.customer_id) as customer_id,
        case
            when shopify_people.customer_id is not null then 'user_id'
            when email_owners.customer_id is not null then 'email'
        end as resolved_by
    from identifications
    left join shopify_people using (shopify_customer_id)
    left join email_owners using (email)
),

chosen as (
    select
        anonymous_id,
        -- the first identification that resolves, else the first at all
        arg_min(
            struct_pack(customer_id, user_id, shopify_customer_id, resolved_by),
            (customer_id is null, first_at, user_id, email)
        ) as first_resolved,
        count(distinct customer_id) as people_count,
        min(first_at) as first_identified_at,
        max(last_at) as last_identified_at
    from resolved
    group by anonymous_id
)

select
    anonymous_id,
    first_resolved.customer_id,
    first_resolved.user_id,
    first_resolved.shopify_customer_id,
    first_resolved.resolved_by,
    people_count,
    first_identified_at,
    last_identified_at
from chosen
