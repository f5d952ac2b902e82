{#-
  The parts of audience_members (macros/tailor_segments.sql) that DuckDB and PostgreSQL
  write differently: lists of merge tags, the tag -> value map, and replacing a table.
-#}

{#- The merge tags of every audience of a person, distinct and sorted (aggregate over
    `merge_tags` lists, grouped by the caller). -#}
{% macro merge_tags_of_person(merge_tags) -%}
    {{ return(adapter.dispatch('merge_tags_of_person')(merge_tags)) }}
{%- endmacro %}

{% macro default__merge_tags_of_person(merge_tags) -%}
    list_sort(list_distinct(flatten(list({{ merge_tags }}))))
{%- endmacro %}

{#- array_cat_agg: macros/postgres_functions.sql (array_agg cannot take ragged arrays). -#}
{% macro postgres__merge_tags_of_person(merge_tags) -%}
    array(
        select distinct tag from unnest(array_cat_agg({{ merge_tags }})) as tag
        where tag is not null order by tag
    )::varchar[]
{%- endmacro %}

{#- A map from each tag to the value of its column in `alias` (a merge fields row). -#}
{% macro merge_values_by_tag(tags, alias) -%}
    {{ return(adapter.dispatch('merge_values_by_tag')(tags, alias)) }}
{%- endmacro %}

{% macro default__merge_values_by_tag(tags, alias) -%}
    map(
        [{% for tag in tags %}'{{ tag }}'{% if not loop.last %}, {% endif %}{% endfor %}]::varchar[],
        [{% for tag in tags %}{{ alias }}.{{ tag | lower }}{% if not loop.last %}, {% endif %}{% endfor %}]::varchar[]
    )
{%- endmacro %}

{% macro postgres__merge_values_by_tag(tags, alias) -%}
    jsonb_build_object(
        {%- for tag in tags %}'{{ tag }}', cast({{ alias }}.{{ tag | lower }} as varchar){% if not loop.last %}, {% endif %}{% endfor -%}
    )
{%- endmacro %}

{#- The JSON object {tag: value} of a person's tags, text; '{}' when none. -#}
{% macro merge_fields_json(tags, values_by_tag) -%}
    {{ return(adapter.dispatch('merge_fields_json')(tags, values_by_tag)) }}
{%- endmacro %}

{% macro default__merge_fields_json(tags, values_by_tag) -%}
    coalesce(to_json(map_from_entries(list_transform(
        {{ tags }}, lambda tag: {'k': tag, 'v': {{ values_by_tag }}[tag]}
    ))), '{}')::varchar
{%- endmacro %}

{% macro postgres__merge_fields_json(tags, values_by_tag) -%}
    coalesce(
        (select jsonb_object_agg(tag, coalesce({{ values_by_tag }} -> tag, 'null'::jsonb))
         from unnest({{ tags }}) as tag),
        '{}'::jsonb
    )::varchar
{%- endmacro %}

{#- Statements that replace `relation` with the result of `sql`. -#}
{% macro replace_table_as(relation, sql) -%}
    {{ return(adapter.dispatch('replace_table_as')(relation, sql)) }}
{%- endmacro %}

{% macro default__replace_table_as(relation, sql) -%}
create or replace table {{ relation }} as (
    {{ sql }}
);
{%- endmacro %}

{% macro postgres__replace_table_as(relation, sql) -%}
drop table if exists {{ relation }};
create table {{ relation }} as (
    {{ sql }}
);
{%- endmacro %}

{#- The start of an INSERT that replaces the row of the same primary key (`keys`); close
    it with upsert_end(keys, columns) after the SELECT. -#}
{% macro upsert_into(table) -%}
    {{ return(adapter.dispatch('upsert_into')(table)) }}
{%- endmacro %}
{% macro default__upsert_into(table) -%} insert or replace into {{ table }} {%- endmacro %}
{% macro postgres__upsert_into(table) -%} insert into {{ table }} {%- endmacro %}

{% macro upsert_end(keys, columns) -%}
    {{ return(adapter.dispatch('upsert_end')(keys, columns)) }}
{%- endmacro %}
{% macro default__upsert_end(keys, columns) -%} {%- endmacro %}
{% macro postgres__upsert_end(keys, columns) -%}
    on conflict ({{ keys | join(', ') }}) do update set
    {%- for column in columns if column not in keys %}
        {{ column }} = excluded.{{ column }}{{ ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}
