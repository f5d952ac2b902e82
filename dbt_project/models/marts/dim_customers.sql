-- The unified profile: one row per person, from every source's records, with what they
-- bought, browsed and opened. Survivorship per attribute (see _dim_customers.yml): names,
-- phone and address from Shopify first, then the CRM; the CRM lifecycle stage from the
-- CRM; newest first within a source. Every window is relative to as_of; nothing on or
-- after as_of counts.
{%- set store_first = 'source_priority desc, updated_at desc' %}
{%- set newest = 'updated_at desc' %}
{%- set engagement_days = var('tailor_high_engagement_window_days') %}
{%- set frequent_days = var('tailor_frequent_buyer_window_days') %}
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
        max(email_consent_updated_at) as email_consent_updated_at,
        min(created_at) as signed_up_at,
        max(updated_at) as updated_at
    from records
    group by customer_id
),

-- An email reaches one profile only: when people share one (a family address), the
-- profile that signed up first owns it (int_identity__email_owners, which email activity
-- is attributed by too). A profile's email is the survivor among the emails it owns.
owned_emails as (
    select
        records.customer_id,
        {{ identity_survivor('records.email', store_first) }} as email
    from records
    inner join {{ ref('int_identity__email_owners') }} as owners
        on owners.email = records.email and owners.customer_id = records.customer_id
    where records.is_email_valid
    group by records.customer_id
),

-- Consent to email counts for the address it was given for: a subscription of the family
-- address does not make the person's own address subscribed. An opt-out anywhere wins.
consent as (
    select
        records.customer_id,
        bool_or(records.email_marketing_state = 'subscribed') as is_subscribed,
        bool_or(records.email_marketing_state = 'pending') as is_pending
    from records
    inner join owned_emails
        on owned_emails.customer_id = records.customer_id
        and owned_emails.email = records.email
    group by records.customer_id
),

orders as (
    select
        customer_id,
        count(*) as orders_count,
        count(*) filter (
            where created_at >= {{ as_of() }} - {{ interval_days(30) }}
        ) as orders_last_30_days,
        count(*) filter (
            where created_at >= {{ as_of() }} - {{ interval_days(frequent_days) }}
        ) as orders_in_frequent_window,
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
        {{ rfm_score('last_order_at') }} as rfm_recency,
        {{ rfm_score('orders_count') }} as rfm_frequency,
        {{ rfm_score('total_spent') }} as rfm_monetary
    from orders
),

-- `not materialized`: read three times below, and held whole in memory otherwise (tens of
-- millions of rows at scale); scanning the table again is cheaper.
lines as not materialized (
    select customer_id, order_line_id, product_title, category, quantity, line_total, ordered_at
    from {{ ref('fct_order_lines') }}
    where customer_id is not null
      and not coalesce(is_cancelled, false)
      and ordered_at < {{ as_of() }}
),

-- Most bought category by quantity, then by spend, then by name (so ties are stable).
favourite as (
    select customer_id, category as favourite_category
    from ({{ first_row_per('''(
        select customer_id, category, sum(quantity) as quantity, sum(line_total) as spend
        from lines
        where category is not null
        group by customer_id, category
    ) as bought''', 'customer_id', 'quantity desc, spend desc, category') }}) as favourites
),

-- The latest order's line of the highest value.
last_purchase as (
    select
        customer_id,
        category as last_purchased_category,
        product_title as last_purchased_product
    from ({{ first_row_per('lines', 'customer_id', 'ordered_at desc, line_total desc, order_line_id') }}) as latest
),

events as not materialized (
    select customer_id, event_name, category, device_type, occurred_at
    from {{ ref('fct_events') }}
    where customer_id is not null
      and occurred_at < {{ as_of() }}
),

-- The device type of most events, then the most recently used, then by name.
device as (
    select customer_id, device_type as device_most_used
    from ({{ first_row_per('''(
        select customer_id, device_type, count(*) as uses, max(occurred_at) as last_used_at
        from events
        where device_type is not null
        group by customer_id, device_type
    ) as used''', 'customer_id', 'uses desc, last_used_at desc, device_type') }}) as devices
),

browsing as (
    select
        customer_id,
        count(*) filter (
            where event_name = 'Product Viewed' and occurred_at >= {{ as_of() }} - {{ interval_days(7) }}
        ) as product_views_7d,
        max(occurred_at) as last_event_at
    from events
    group by customer_id
),

email_activity as (
    select
        customer_id,
        count(*) filter (where action = 'open' and occurred_at >= {{ as_of() }} - {{ interval_days(7) }})
            as email_opens_7d,
        count(*) filter (where action = 'click' and occurred_at >= {{ as_of() }} - {{ interval_days(7) }})
            as email_clicks_7d,
        count(*) filter (where action = 'open' and occurred_at >= {{ as_of() }} - {{ interval_days(30) }})
            as email_opens_30d,
        count(*) filter (where action = 'click' and occurred_at >= {{ as_of() }} - {{ interval_days(30) }})
            as email_clicks_30d,
        count(*) filter (
            where action = 'open'
                and occurred_at >= {{ as_of() }} - {{ interval_days(engagement_days) }}
        ) as opens_in_engagement_window,
        count(*) filter (
            where action = 'click'
                and occurred_at >= {{ as_of() }} - {{ interval_days(engagement_days) }}
        ) as clicks_in_engagement_window,
        max(occurred_at) as last_email_activity_at
    from {{ ref('fct_email_activity') }}
    where customer_id is not null
      and action in ('open', 'click')
      and occurred_at < {{ as_of() }}
    group by customer_id
),

abandoned_carts as (
    select * from {{ ref('fct_abandoned_checkouts') }}
    where customer_id is not null
      and is_abandoned
      and abandoned_at < {{ as_of() }}
),

-- The newest cart that fct_abandoned_checkouts counts as abandoned (no order since).
open_cart as (
    select
        customer_id,
        total_price as open_cart_value,
        items as open_cart_items,
        abandoned_at as cart_abandoned_at
    from ({{ first_row_per('abandoned_carts', 'customer_id', 'abandoned_at desc, checkout_id desc') }}) as newest_cart
),

-- Categories viewed in the interest window, and every category bought.
interests as (
    select customer_id, {{ sorted_distinct_list('category') }} as categories_of_interest
    from (
        select customer_id, category from events
        where event_name = 'Product Viewed'
            and occurred_at >= {{ as_of() }} - {{ interval_days(var('tailor_interest_window_days')) }}
        union all
        select customer_id, category from lines
    ) as interesting
    where category is not null
    group by customer_id
),

joined as (
    select
        profiles.*,
        owned_emails.email,
        owned_emails.email is not null as owns_email,
        coalesce(consent.is_subscribed, false) as is_subscribed,
        coalesce(consent.is_pending, false) as is_pending,
        coalesce(orders.orders_count, 0) as orders_count,
        coalesce(orders.orders_last_30_days, 0) as orders_last_30_days,
        coalesce(orders.orders_in_frequent_window, 0) as orders_in_frequent_window,
        coalesce(orders.total_spent, 0) as total_spent,
        orders.first_order_at,
        orders.last_order_at,
        {{ dbt.datediff('orders.last_order_at', as_of(), 'day') }} as days_since_last_order,
        rfm.rfm_recency,
        rfm.rfm_frequency,
        rfm.rfm_monetary,
        favourite.favourite_category,
        last_purchase.last_purchased_category,
        last_purchase.last_purchased_product,
        device.device_most_used,
        coalesce(browsing.product_views_7d, 0) as product_views_7d,
        browsing.last_event_at,
        coalesce(email_activity.email_opens_7d, 0) as email_opens_7d,
        coalesce(email_activity.email_clicks_7d, 0) as email_clicks_7d,
        coalesce(email_activity.email_opens_30d, 0) as email_opens_30d,
        coalesce(email_activity.email_clicks_30d, 0) as email_clicks_30d,
        coalesce(email_activity.opens_in_engagement_window, 0) as opens_in_engagement_window,
        coalesce(email_activity.clicks_in_engagement_window, 0) as clicks_in_engagement_window,
        email_activity.last_email_activity_at,
        open_cart.open_cart_value,
        open_cart.open_cart_items,
        open_cart.cart_abandoned_at,
        coalesce(interests.categories_of_interest, {{ empty_text_list() }}) as categories_of_interest
    from profiles
    left join owned_emails using (customer_id)
    left join consent using (customer_id)
    left join orders using (customer_id)
    left join rfm using (customer_id)
    left join favourite using (customer_id)
    left join last_purchase using (customer_id)
    left join device using (customer_id)
    left join browsing using (customer_id)
    left join email_activity using (customer_id)
    left join open_cart using (customer_id)
    left join interests using (customer_id)
)

select
    customer_id,
    email,
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
        when is_subscribed then 'subscribed'
        when is_pending then 'pending'
        else 'not_subscribed'
    end as email_consent_state,
    email_consent_updated_at,
    {{ lifecycle_stage('first_order_at', 'last_order_at') }} as lifecycle_stage,
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
    {{ rfm_segment_name('rfm_recency', 'rfm_frequency', 'rfm_monetary') }} as rfm_segment,
    favourite_category,
    last_purchased_category,
    last_purchased_product,
    device_most_used,
    product_views_7d,
    email_opens_7d,
    email_clicks_7d,
    email_opens_30d,
    email_clicks_30d,
    greatest(last_order_at, last_event_at, last_email_activity_at) as last_activity_at,
    open_cart_value,
    open_cart_items,
    cart_abandoned_at,
    orders_in_frequent_window > {{ var('tailor_frequent_buyer_orders_over') }}
        as is_frequent_buyer,
    cart_abandoned_at is not null as has_abandoned_cart,
    opens_in_engagement_window > {{ var('tailor_high_engagement_opens_over') }}
        and clicks_in_engagement_window > {{ var('tailor_high_engagement_clicks_over') }}
        as is_highly_engaged,
    categories_of_interest,
    signed_up_at,
    updated_at
from joined
