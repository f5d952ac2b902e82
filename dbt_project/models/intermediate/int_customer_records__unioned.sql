-- Every person record from every source, in one shape, before identity resolution.
-- Soft-deleted records stay here, flagged; resolution leaves them out.
with

shopify as (
    select
        'shopify' as source,
        shopify_customer_id as source_record_id,
        email, email_raw, is_email_valid,
        first_name, last_name, first_name_key, first_name_canonical, last_name_key,
        phone, phone_e164,
        address_line_1, address_key, city, region_code, country_code, postal_code, postal_key,
        locale,
        email_marketing_state,
        false as has_opted_out_of_email,
        email_consent_updated_at,
        cast(null as varchar) as lifecycle_stage,
        is_deleted,
        created_at, updated_at
    from {{ ref('stg_shopify__customers') }}
),

hubspot as (
    select
        'hubspot' as source,
        hubspot_contact_id as source_record_id,
        email, email_raw, is_email_valid,
        first_name, last_name, first_name_key, first_name_canonical, last_name_key,
        phone, phone_e164,
        address_line_1, address_key, city, region_code, country_code, postal_code, postal_key,
        cast(null as varchar) as locale,
        cast(null as varchar) as email_marketing_state,
        has_opted_out_of_email,
        cast(null as timestamp) as email_consent_updated_at,
        lifecycle_stage,
        is_deleted,
        created_at, updated_at
    from {{ ref('stg_hubspot__contacts') }}
)

select
    source || ':' || source_record_id as record_key,
    *
from (
    select * from shopify
    union all
    select * from hubspot
) as records
