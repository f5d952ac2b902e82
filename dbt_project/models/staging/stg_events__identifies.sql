-- Every moment the collector tied an anonymous id to a person: identify calls, and track
-- calls that carry both a userId and an anonymousId (a logged-in visitor's page view).
-- int_identity__anonymous_ids turns these into one person per anonymous id.
-- A view: a filter of stg_events__calls, which is already a table.
{{ config(materialized='view') }}
select
    ---------- ids
    event_id,
    anonymous_id,
    user_id,
    shopify_customer_id,

    ---------- strings
    call_type,
    -- an identify call's traits.email, else its properties.email
    identity_email as email,

    ---------- timestamps
    occurred_at

from {{ ref('stg_events__calls') }}
where anonymous_id is not null
    and (
        (call_type = 'identify' and (user_id is not null or identity_email is not null))
        or (call_type = 'track' and user_id is not null)
    )
