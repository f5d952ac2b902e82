-- Every moment the collector tied an anonymous id to a person: identify calls, and track
-- calls that carry both a userId and an anonymousId (a logged-in visitor's page view).
-- int_identity__anonymous_ids turns these into one person per anonymous id.
with

source as (
    select * from {{ landing_source('collector', 'events') }}
),

latest as (
    select * from source
    qualify row_number() over (partition by id order by interval_end desc) = 1
),

parsed as (
    select
        id,
        updated_at,
        json_transform(payload, '{
            "type": "VARCHAR", "userId": "VARCHAR", "anonymousId": "VARCHAR",
            "timestamp": "VARCHAR", "traits": {"email": "VARCHAR"},
            "properties": {"email": "VARCHAR"}
        }') as p
    from latest
),

renamed as (
    select
        ---------- ids
        id as event_id,
        {{ nonblank('p.anonymousId') }} as anonymous_id,
        {{ nonblank('p.userId') }} as user_id,
        {{ shopify_gid(nonblank('p.userId'), 'Customer') }} as shopify_customer_id,

        ---------- strings
        lower(p.type) as call_type,
        {{ normalise_email('coalesce(p.traits.email, p.properties.email)') }} as email,

        ---------- timestamps
        coalesce({{ to_utc(nonblank('p.timestamp')) }}, updated_at at time zone 'UTC')
            as occurred_at

    from parsed
)

select * from renamed
where anonymous_id is not null
    and (
        (call_type = 'identify' and (user_id is not null or email is not null))
        or (call_type = 'track' and user_id is not null)
    )
