-- One person per anonymous id: the first identification of the id (an identify call, or
-- a track call carrying a userId) that resolves to a profile. userId is the Shopify
-- customer's numeric id; an identify with only an email reaches the profile that owns the
-- email. Events of the anonymous id before the login then count for that person.
-- A shared device (an id later identified as someone else) keeps its first person;
-- `people_count` shows it. The calls are aggregated before anything is ranked: millions
-- carry a userId, but few distinct (anonymous id, user, email) triples.
with

identifications as (
    select
        anonymous_id,
        user_id,
        email,
        -- the GID of user_id: one per group, not a grouping key of its own
        min(shopify_customer_id) as shopify_customer_id,
        min(occurred_at) as first_at,
        max(occurred_at) as last_at
    from {{ ref('stg_events__identifies') }}
    group by anonymous_id, user_id, email
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

-- the first identification that resolves, else the first at all
chosen as (
    {{ first_row_per('resolved', 'anonymous_id', 'customer_id is null, first_at, user_id, email') }}
),

totals as (
    select
        anonymous_id,
        count(distinct customer_id) as people_count,
        min(first_at) as first_identified_at,
        max(last_at) as last_identified_at
    from resolved
    group by anonymous_id
)

select
    chosen.anonymous_id,
    chosen.customer_id,
    chosen.user_id,
    chosen.shopify_customer_id,
    chosen.resolved_by,
    totals.people_count,
    totals.first_identified_at,
    totals.last_identified_at
from chosen
inner join totals on totals.anonymous_id = chosen.anonymous_id
