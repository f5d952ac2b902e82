-- One row per recipient activity in a Mailchimp campaign report (open, click, bounce,
-- unsub), each once. The email is normalised as every other source's is, so it meets
-- the profile that holds it (int_identity__email_owners).
with

source as (
    select * from {{ landing_source('mailchimp', 'email_activity') }}
),

latest as (
    {{ first_row_per('source', 'id', 'updated_at desc, interval_end desc') }}
),

parsed as (
    select
        id,
        updated_at,
        {{ json_parse('payload', '{
            "campaign_id": "VARCHAR", "list_id": "VARCHAR", "email_address": "VARCHAR",
            "action": "VARCHAR", "type": "VARCHAR", "timestamp": "VARCHAR", "url": "VARCHAR"
        }') }} as p
    from latest
),

renamed as (
    select
        ---------- ids
        id as activity_id,
        {{ nonblank(json_field('p', 'campaign_id')) }} as campaign_id,
        {{ nonblank(json_field('p', 'list_id')) }} as list_id,

        ---------- strings
        {{ normalise_email(json_field('p', 'email_address')) }} as email,
        lower({{ nonblank(json_field('p', 'action')) }}) as action,
        lower({{ nonblank(json_field('p', 'type')) }}) as bounce_type,
        {{ nonblank(json_field('p', 'url')) }} as url,

        ---------- timestamps
        coalesce({{ to_utc(nonblank(json_field('p', 'timestamp'))) }}, updated_at at time zone 'UTC')
            as occurred_at

    from parsed
)

select * from renamed
