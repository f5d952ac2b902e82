-- The unified profile: one row per person, from every source's records.
-- Survivorship: for each attribute the first non-empty value from Shopify, then HubSpot,
-- newest first.
with

records as (
    select * from {{ ref('int_customer_records__resolved') }}
),

profiles as (
    select
        customer_id,
        any_value(email) as email,
        first(source_record_id order by updated_at desc) filter (where source = 'shopify')
            as shopify_customer_id,
        first(source_record_id order by updated_at desc) filter (where source = 'hubspot')
            as hubspot_contact_id,
        count(distinct source) as source_count,
        count(*) as record_count,
        first(first_name order by source_priority desc, updated_at desc)
            filter (where first_name is not null) as first_name,
        first(last_name order by source_priority desc, updated_at desc)
            filter (where last_name is not null) as last_name,
        first(phone order by source_priority desc, updated_at desc)
            filter (where phone is not null) as phone,
        first(city order by source_priority desc, updated_at desc)
            filter (where city is not null) as city,
        first(region_code order by source_priority desc, updated_at desc)
            filter (where region_code is not null) as region_code,
        first(country_code order by source_priority desc, updated_at desc)
            filter (where country_code is not null) as country_code,
        first(postal_code order by source_priority desc, updated_at desc)
            filter (where postal_code is not null) as postal_code,
        first(lifecycle_stage order by updated_at desc)
            filter (where lifecycle_stage is not null) as crm_lifecycle_stage,
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

orders as (
    select
        customer_id,
        count(*) as orders_count,
        sum(total_price) as total_spent,
        min(created_at) as first_order_at,
        max(created_at) as last_order_at
    from {{ ref('fct_orders') }}
    where customer_id is not null
      and not is_cancelled
      and created_at < {{ as_of() }}
    group by customer_id
)

select
    profiles.customer_id,
    profiles.email,
    profiles.first_name,
    profiles.last_name,
    profiles.phone,
    profiles.city,
    profiles.region_code,
    profiles.country_code,
    profiles.postal_code,
    profiles.shopify_customer_id,
    profiles.hubspot_contact_id,
    profiles.source_count,
    profiles.record_count,
    profiles.crm_lifecycle_stage,
    case
        when profiles.is_unsubscribed then 'unsubscribed'
        when profiles.is_subscribed_anywhere then 'subscribed'
        when profiles.is_pending_anywhere then 'pending'
        else 'not_subscribed'
    end as email_consent_state,
    profiles.email_consent_updated_at,
    coalesce(orders.orders_count, 0) as orders_count,
    coalesce(orders.total_spent, 0) as total_spent,
    orders.first_order_at,
    orders.last_order_at,
    profiles.signed_up_at,
    profiles.updated_at
from profiles
left join orders using (customer_id)
