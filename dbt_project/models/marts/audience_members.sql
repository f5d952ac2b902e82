-- The rows the sync sends: one per segment and person who may receive marketing email,
-- with the ESP tag and the merge fields. People without consent are left out here and
-- counted in the run's report; nobody unsubscribed in any source is ever included.
with

segment_members as (
    {%- for segment in tailor_segments() %}
    select
        '{{ segment.audience }}' as audience,
        '{{ segment.tag }}' as esp_tag,
        customer_id,
        reason
    from {{ ref(segment.model) }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

customers as (
    select * from {{ ref('dim_customers') }}
)

select
    segment_members.audience,
    segment_members.esp_tag,
    customers.customer_id,
    customers.email,
    'subscribed' as email_status,
    customers.first_name,
    customers.last_name,
    to_json({
        'FNAME': coalesce(customers.first_name, ''),
        'LNAME': coalesce(customers.last_name, ''),
        'ORDERS': cast(customers.orders_count as varchar),
        'SPENT': printf('%.2f', customers.total_spent),
        'LASTORDER': coalesce(strftime(customers.last_order_at, '%Y-%m-%d'), '')
    })::varchar as merge_fields,
    segment_members.reason
from segment_members
inner join customers using (customer_id)
where customers.email_consent_state = 'subscribed'
