{% macro as_of() -%}
    cast('{{ var("tailor_as_of") }}' as timestamp)
{%- endmacro %}

{#- An ISO-8601 text timestamp (with Z or an offset) as a UTC timestamp without zone. -#}
{% macro to_utc(expression) -%}
    (cast({{ expression }} as timestamptz) at time zone 'UTC')
{%- endmacro %}

{#- A string field out of a landing row's JSON payload. -#}
{% macro payload(path) -%}
    nullif(trim(json_extract_string(payload, '{{ path }}')), '')
{%- endmacro %}

{#- Syntax check of a normalised email: one @, a dotted domain, no spaces. No lookups. -#}
{% macro is_valid_email(expression) -%}
    coalesce(regexp_full_match(
        {{ expression }},
        '[a-z0-9!#$%&''*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&''*+/=?^_`{|}~-]+)*@([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}'
    ), false)
{%- endmacro %}

{% macro normalise_email(expression) -%}
    nullif(lower(trim({{ expression }})), '')
{%- endmacro %}
