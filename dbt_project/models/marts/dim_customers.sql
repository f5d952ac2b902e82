-- The unified profile: one row per person, from every source's records.
-- Survivorship per attribute (see _dim_customers.yml): names, phone and address from
-- Shopify first, then the CRM; the lifecycle stage from the CRM; newest first within a
-- source. Everything relative to as_of.
{%- set store_first = 'source_priority desc, updated_at desc' %}
{%- set newest = 'updated_at desc' %}
with

records as (
    select * from {{ ref('int_customer_records__resolved') }}
),

profiles as (
    select
        customer_id,
        {{ identity_survivor('case when is_email_valid then email end', store_first) }}
            as candidate_email,
        {{ identity_survivor("case when source = 'shopify' then source_record_id end", newest) }}
            as shopify_customer_id,
        {{ identity_survivor("case when source = 'hubspot' then source_record_id end", newest) }}
            as hubspot_contact_id,
        count(distinct source) as source_count,
        count(*) as record_count,
        {{ identity_survivor('first_name', store_first) }} as first_name,
        {{ identity_survivor('last_name', store_first) }} as last_name,
        {{ identity_survivor('phone_e164', store_first) }} as phone,
        {{ identity_survivor('address_line_1', store_first) }} as address_line_1,
        {{ identity_survivor('city', store_first) }} as city,
        {{ identity_survivor('region_code', store_first) }} as region_code,
        {{ identity_survivor('country_code', store_first) }} as country_code,
        {{ identity_survivor('postal_code', store_first) }} as postal_code,
        {{ identity_survivor('locale', store_first) }} as language,
        {{ identity_survivor('lifecycle_stage', 'source_priority asc, updated_at desc') }}
            as crm_lifecycle_stage,
        bool_or(email_marketing_state in ('unsubscribed', 'redacted', 'invalid')
            or has_opted_out_of_email) as is_unsubscribed,
        bool_or(email_marketing_state = 'subscribed') as is_subscribed_anywhere,
        bool_or(email_marketing_state = 'pending') as is_pending_anywhere,
        max(email_consent_updated_at) as email_consent_updated_at,
        min(created_at) as signed_up_at,
        max(updated_at) as updated_at
    from records
    group by customer_id
),

-- An email reaches one profile only: when people share one (a family address), the
-- profile that held it first keeps it, the others show it as `shared_email`.
emails as (
    select
        *,
        row_number() over (
            partition by candidate_email order by signed_up_at, customer_id
        ) = 1 as owns_email
    from profiles
),

orders as (
    select
        customer_id,
        count(*) as orders_count,
        count(*) filter (
            where created_at >= {{ as_of() }} - interval 30 day
        ) as orders_last_30_days,
        sum(total_price) as total_spent,
        min(created_at) as first_order_at,
        max(created_at) as last_order_at
    from {{ ref('fct_orders') }}
    where customer_id is not null
      and not is_cancelled
      and created_at < {{ as_of() }}
    group by customer_id
),

rfm as (
    select
        customer_id,
        ntile(5) over (order by last_order_at, customer_id) as rfm_recency,
        ntile(5) over (order by orders_count, customer_id) as rfm_frequency,
        ntile(5) over (order by total_spent, customer_id) as rfm_monetary
    from orders
),

joined as (
    select
        emails.*,
        coalesce(orders.orders_count, 0) as orders_count,
        coalesce(orders.orders_last_30_days, 0) as orders_last_30_days,
        coalesce(orders.total_spent, 0) as total_spent,
        orders.first_order_at,
        orders.last_order_at,
        date_diff('day', orders.last_order_at, {{ as_of() }}) as days_since_last_order,
        rfm.rfm_recency,
        rfm.rfm_frequency,
        rfm.rfm_monetary
    from emails
    left join orders using (customer_id)
    left join rfm using (customer_id)
)

select
    customer_id,
    case when owns_email then candidate_email end as email,
    case when not owns_email then candidate_email end as shared_email,
    first_name,
    last_name,
    phone,
    address_line_1,
    city,
    region_code,
    country_code,
    postal_code,
    language,
    shopify_customer_id,
    hubspot_contact_id,
    source_count,
    record_count,
    crm_lifecycle_stage,
    case
        when not owns_email then 'not_subscribed'
        when is_unsubscribed then 'unsubscribed'
        when is_subscribed_anywhere then 'subscribed'
        when is_pending_anywhere then 'pending'
        else 'not_subscribed'
    end as email_consent_state,
    email_consent_updated_at,
    case
        when orders_count = 0 and signed_up_at
            >= {{ as_of() }} - to_days({{ var('tailor_identity_new_within_days') }}) then 'new'
        when orders_count = 0 then 'prospect'
        when first_order_at
            >= {{ as_of() }} - to_days({{ var('tailor_identity_new_within_days') }}) then 'new'
        when days_since_last_order <= {{ var('tailor_identity_active_within_days') }} then 'active'
        when days_since_last_order <= {{ var('tailor_identity_lapsed_within_days') }} then 'lapsed'
        else 'churned'
    end as lifecycle_stage,
    orders_count,
    orders_last_30_days,
    total_spent,
    case when orders_count > 0 then round(total_spent / orders_count, 2) end
        as average_order_value,
    first_order_at,
    last_order_at,
    days_since_last_order,
    rfm_recency,
    rfm_frequency,
    rfm_monetary,
    case
        when rfm_recency is null then 'no_orders'
        when rfm_recency >= 4 and rfm_frequency >= 4 then 'champions'
        when rfm_recency >= 3 and rfm_frequency >= 3 then 'loyal'
        when rfm_recency >= 4 then 'recent'
        when rfm_frequency >= 3 then 'at_risk'
        when rfm_recency <= 2 then 'hibernating'
        else 'needs_attention'
    end as rfm_segment,
    signed_up_at,
    updated_at
from joined
