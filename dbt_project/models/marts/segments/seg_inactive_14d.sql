-- Re-engagement: people with some history (an order, a tracked event or an email open or
-- click before as_of) but none of these in the window before as_of.
{%- set days = var('tailor_inactive_window_days') %}
with

activity as (
    select customer_id, created_at as occurred_at
    from {{ ref('fct_orders') }}
    where customer_id is not null and created_at < {{ as_of() }}
    union all
    select customer_id, occurred_at
    from {{ ref('fct_events') }}
    where customer_id is not null and occurred_at < {{ as_of() }}
    union all
    select customer_id, occurred_at
    from {{ ref('fct_email_activity') }}
    where customer_id is not null
      and action in ('open', 'click')
      and occurred_at < {{ as_of() }}
),

last_activity as (
    select customer_id, max(occurred_at) as last_activity_at
    from activity
    group by customer_id
)

select
    customer_id,
    last_activity_at,
    'last activity ' || strftime(last_activity_at, '%Y-%m-%d') || ', none in the {{ days }} '
        || 'days before as_of' as reason
from last_activity
where last_activity_at < {{ as_of() }} - interval '{{ days }} day'
