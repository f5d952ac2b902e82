{#-
  Normalisation shared by every person-record staging model. The Python UDFs behind these
  (registered by the `tailor.dbt_udfs` plugin) use email-validator, phonenumbers and
  pycountry; see plugins/tailor/identity_normalise.py.
-#}

{#-
  A normalisation function's result: on DuckDB the UDF `udf`; on PostgreSQL the value that
  tailor.warehouse_postgres computed with the same Python function when it loaded the
  landing files (`<landing schema>.normalised`, keyed by function and arguments).
-#}
{% macro normalised(fn, udf, expression, second=none) -%}
    {{ return(adapter.dispatch('normalised')(fn, udf, expression, second)) }}
{%- endmacro %}

{% macro default__normalised(fn, udf, expression, second=none) -%}
    {{ udf }}({{ expression }}{{ ', ' ~ second if second is not none }})
{%- endmacro %}

{#- Null when the value was not loaded (as the UDFs give for null). -#}
{% macro postgres__normalised(fn, udf, expression, second=none) -%}
    (select {{ 'cast(n.result as boolean)' if fn == 'email_is_valid' else 'n.result' }} from {{ env_var('TAILOR_LANDING_SCHEMA', 'landing') }}.normalised as n
     where n.fn = '{{ fn }}' and n.arg = {{ expression }}
        and n.arg2 = {{ "coalesce(" ~ second ~ ", '')" if second is not none else "''" }})
{%- endmacro %}

{#- RFC syntax of a normalised email (no network lookups); false for null. -#}
{% macro identity_email_is_valid(expression) -%}
    coalesce({{ normalised('email_is_valid', 'tailor_email_is_valid', expression) }}, false)
{%- endmacro %}

{#- A phone as E.164, read with the record's ISO country; null when it cannot be a number. -#}
{% macro identity_phone_e164(expression, country_code) -%}
    {{ normalised('phone_e164', 'tailor_phone_e164', expression, country_code) }}
{%- endmacro %}

{#- ISO 3166-1 alpha-2 for a country name or code. -#}
{% macro identity_country_code(expression) -%}
    {{ normalised('country_code', 'tailor_country_code', expression) }}
{%- endmacro %}

{#- ISO 3166-2 subdivision code (without the country) for a region name or code. -#}
{% macro identity_region_code(expression, country_code) -%}
    {{ normalised('region_code', 'tailor_region_code', expression, country_code) }}
{%- endmacro %}

{#- Names for matching: case-folded, accents and punctuation removed (display keeps the original). -#}
{% macro identity_name_key(expression) -%}
    {{ normalised('name_key', 'tailor_name_key', expression) }}
{%- endmacro %}

{#- A first name for matching, nicknames mapped to the formal name (Bill -> william). -#}
{% macro identity_first_name_key(expression) -%}
    {{ normalised('first_name_key', 'tailor_first_name_key', expression) }}
{%- endmacro %}

{#- A postcode for matching: upper-case letters and digits only. -#}
{% macro identity_postal_key(expression) -%}
    nullif(regexp_replace(upper({{ expression }}), '[^A-Z0-9]', '', 'g'), '')
{%- endmacro %}

{#- A street address for matching: lower-case words, punctuation removed. -#}
{% macro identity_address_key(expression) -%}
    nullif(trim(regexp_replace(lower(strip_accents({{ expression }})), '[^a-z0-9]+', ' ', 'g')), '')
{%- endmacro %}

{#-
  A file of person records with Tailor's column names (see `tailor identity resolve`)
  in the shape of int_customer_records__unioned, normalised with the macros above, the
  same ones the staging models use.
-#}
{% macro identity_normalise_records(relation) -%}
    with

    renamed as (
        select
            cast(source as varchar) as source,
            cast(source_record_id as varchar) as source_record_id,
            nullif(trim(cast(first_name as varchar)), '') as first_name,
            nullif(trim(cast(last_name as varchar)), '') as last_name,
            {{ normalise_email('cast(email as varchar)') }} as email,
            nullif(trim(cast(phone as varchar)), '') as phone,
            nullif(trim(cast(address_line_1 as varchar)), '') as address_line_1,
            nullif(trim(cast(postal_code as varchar)), '') as postal_code,
            {{ identity_country_code('cast(country as varchar)') }} as country_code,
            cast(created_at as timestamp) as created_at
        from {{ relation }}
    )

    select
        source || ':' || source_record_id as record_key,
        source,
        source_record_id,
        email,
        {{ identity_email_is_valid('email') }} as is_email_valid,
        {{ identity_name_key('first_name') }} as first_name_key,
        {{ identity_first_name_key('first_name') }} as first_name_canonical,
        {{ identity_name_key('last_name') }} as last_name_key,
        {{ identity_phone_e164('phone', 'country_code') }} as phone_e164,
        {{ identity_postal_key('postal_code') }} as postal_key,
        {{ identity_address_key('address_line_1') }} as address_key,
        false as is_deleted,
        created_at
    from renamed
{%- endmacro %}
