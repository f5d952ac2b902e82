-- Every person record from every source, in one shape, before identity resolution.
with

shopify as (
    select
        'shopify' as source,
        shopify_customer_id as source_record_id,
        email, email_raw, is_email_valid,
        first_name, last_name, phone, city, region_code, country_code, postal_code,
        email_marketing_state,
        false as has_opted_out_of_email,
        email_consent_updated_at,
        cast(null as varchar) as lifecycle_stage,
        created_at, updated_at
    from {{ ref('stg_shopify__customers') }}
),

hubspot as (
    select
        'hubspot' as source,
        hubspot_contact_id as source_record_id,
        email, email_raw, is_email_valid,
        first_name, last_name, phone, city, region_code, country_code, postal_code,
        cast(null as varchar) as email_marketing_state,
        has_opted_out_of_email,
        cast(null as timestamp) as email_consent_updated_at,
        lifecycle_stage,
        created_at, updated_at
    from {{ ref('stg_hubspot__contacts') }}
    where not is_deleted
)

select * from shopify
union all
select * from hubspot
