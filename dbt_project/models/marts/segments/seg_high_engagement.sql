-- More than N opens and more than M clicks of marketing email in the window before as_of.
{%- set days = var('tailor_high_engagement_window_days') %}
{%- set opens_over = var('tailor_high_engagement_opens_over') %}
{%- set clicks_over = var('tailor_high_engagement_clicks_over') %}
with

activity as (
    select
        customer_id,
        count(*) filter (where action = 'open') as opens_in_window,
        count(*) filter (where action = 'click') as clicks_in_window
    from {{ ref('fct_email_activity') }}
    where customer_id is not null
      and occurred_at >= {{ as_of() }} - interval '{{ days }} day'
      and occurred_at < {{ as_of() }}
    group by customer_id
)

select
    customer_id,
    opens_in_window,
    clicks_in_window,
    opens_in_window || ' opens and ' || clicks_in_window || ' clicks in the {{ days }} days '
        || 'before as_of (more than {{ opens_over }} and {{ clicks_over }})' as reason
from activity
where opens_in_window > {{ opens_over }}
  and clicks_in_window > {{ clicks_over }}
