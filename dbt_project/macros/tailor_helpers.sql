{% macro as_of() -%}
    cast('{{ var("tailor_as_of") }}' as timestamp)
{%- endmacro %}

{#- An ISO-8601 text timestamp (with Z or an offset) as a UTC timestamp without zone. -#}
{% macro to_utc(expression) -%}
    (cast({{ expression }} as timestamptz) at time zone 'UTC')
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

{#- Blank text (empty or only spaces) as null. -#}
{% macro nonblank(expression) -%}
    nullif(trim({{ expression }}), '')
{%- endmacro %}

{#-
  A Shopify GID from an id that may be only its numeric tail (collector userIds and REST
  webhook bodies carry the tail): '123' -> 'gid://shopify/Customer/123'.
-#}
{% macro shopify_gid(expression, resource) -%}
    case
        when {{ expression }} like 'gid://%' then {{ expression }}
        when {{ expression }} is not null then 'gid://shopify/{{ resource }}/' || {{ expression }}
    end
{%- endmacro %}

{#-
  A landing source that may have no file yet (an entity added after the first loads, a
  source not configured): read_parquet() errors on a glob that matches nothing, so
  when no file matches, this gives an empty relation in the landing schema instead.
  Decided when the model is built; views are rebuilt by every `dbt build`. In unit
  tests source() is a fixture, used as it is.
  Only intervals that had ended by as_of are read: a backfill of an older day sees the
  sources as they were known then, not rows landed for later days.
  On PostgreSQL the source is the raw table tailor.warehouse_postgres loads the files into
  (it creates every one, empty until a file lands).
-#}
{% macro landing_source(source_name, table_name) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- set external = relation.external if target.type == 'duckdb' and relation is not string else none -%}
    {%- if execute and external and not landing_files_exist(external) -%}
        ({{ empty_landing() }})
    {%- elif external -%}
        (select * from {{ relation }} where interval_end <= ({{ as_of() }} at time zone 'UTC'))
    {%- elif target.type == 'postgres' and relation is not string -%}
        (select id, updated_at, payload, interval_start, interval_end from {{ relation }}
         where interval_end <= ({{ as_of() }} at time zone 'UTC')) as landing
    {%- else -%}
        {{ relation }}
    {%- endif -%}
{%- endmacro %}

{#- Whether the glob of a `read_parquet('<glob>', ...)` location matches any file. -#}
{% macro landing_files_exist(location) -%}
    {%- set match = modules.re.search("read_parquet[(]\\s*('(?:[^']|'')*')", location) -%}
    {%- if not match -%}
        {{ return(true) }}
    {%- endif -%}
    {%- set found = run_query("select count(*) from glob(" ~ match.group(1) ~ ")") -%}
    {{ return(found.columns[0].values()[0] > 0) }}
{%- endmacro %}

{#- No rows, in the columns and types of a landing file (tailor.sources.landing.SCHEMA). -#}
{% macro empty_landing() -%}
    select
        cast(null as varchar) as id,
        cast(null as timestamptz) as updated_at,
        cast(null as varchar) as payload,
        cast(null as timestamptz) as interval_start,
        cast(null as timestamptz) as interval_end
    limit 0
{%- endmacro %}
