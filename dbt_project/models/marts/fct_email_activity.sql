-- One row per recipient activity in an email campaign (open, click, bounce, unsub), tied
-- to the profile that owns the normalised email address.
with

activity as (
    select * from {{ ref('stg_mailchimp__email_activity') }}
),

email_owners as (
    select email, customer_id from {{ ref('int_identity__email_owners') }}
)

select
    activity.activity_id,
    email_owners.customer_id,
    activity.campaign_id,
    activity.list_id,
    activity.action,
    activity.bounce_type,
    activity.url,
    activity.occurred_at
from activity
left join email_owners using (email)
