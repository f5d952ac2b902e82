{#-
  SQL that DuckDB and PostgreSQL spell differently. Models are written for DuckDB and call
  these where the two differ; the DuckDB form is what the model had before, so its
  plans do not change. Functions PostgreSQL lacks under DuckDB's names (Jaro-Winkler,
  Damerau-Levenshtein, strip_accents, to_days, ...) are created instead by the on-run-start
  hook `tailor_create_functions` (macros/postgres_functions.sql).
-#}

{#-
  The first row of each partition in `order_by` order, every column kept: DuckDB's
  QUALIFY row_number() = 1, PostgreSQL's DISTINCT ON. `relation` is a relation or a CTE.
-#}
{% macro first_row_per(relation, partition_by, order_by) -%}
    {{ return(adapter.dispatch('first_row_per')(relation, partition_by, order_by)) }}
{%- endmacro %}

{% macro default__first_row_per(relation, partition_by, order_by) -%}
    select * from {{ relation }}
    qualify row_number() over (partition by {{ partition_by }} order by {{ order_by }}) = 1
{%- endmacro %}

{% macro postgres__first_row_per(relation, partition_by, order_by) -%}
    select distinct on ({{ partition_by }}) * from {{ relation }}
    order by {{ partition_by }}, {{ nulls_last(order_by) }}
{%- endmacro %}

{#-
  An ORDER BY list with NULLS LAST on every term that does not say: DuckDB sorts nulls
  last both ways, PostgreSQL first when descending.
-#}
{% macro nulls_last(order_by) -%}
    {%- set terms = modules.re.split(',\\s*(?![^()]*\\))', order_by) -%}
    {%- for term in terms -%}
        {{ term.strip() }}{{ ' nulls last' if 'nulls' not in term | lower }}{{ ', ' if not loop.last }}
    {%- endfor -%}
{%- endmacro %}

{#- `row_number() over (...)` with DuckDB's null order on PostgreSQL. -#}
{% macro order_by(terms) -%}
    {{ return(adapter.dispatch('order_by')(terms)) }}
{%- endmacro %}
{% macro default__order_by(terms) -%} order by {{ terms }} {%- endmacro %}
{% macro postgres__order_by(terms) -%} order by {{ nulls_last(terms) }} {%- endmacro %}

{#- A JSON value by '$.a.b' path, as JSON (the DuckDB JSON type, PostgreSQL jsonb). -#}
{% macro json_value(expression, path) -%}
    {{ return(adapter.dispatch('json_value')(expression, path)) }}
{%- endmacro %}

{% macro default__json_value(expression, path) -%}
    json_extract({{ expression }}, '{{ path }}')
{%- endmacro %}

{% macro postgres__json_value(expression, path) -%}
    (cast({{ expression }} as jsonb) #> '{{ json_path_array(path) }}')
{%- endmacro %}

{#- '$.a.b' -> '{a,b}', a PostgreSQL path array. -#}
{% macro json_path_array(path) -%}
    { {{- path.lstrip('$').lstrip('.').split('.') | join(',') -}} }
{%- endmacro %}

{#- The length of the JSON array at `path`, null when there is none. -#}
{% macro json_array_length_at(expression, path) -%}
    {{ return(adapter.dispatch('json_array_length_at')(expression, path)) }}
{%- endmacro %}

{% macro default__json_array_length_at(expression, path) -%}
    json_array_length({{ expression }}, '{{ path }}')
{%- endmacro %}

{% macro postgres__json_array_length_at(expression, path) -%}
    (case when jsonb_typeof(cast({{ expression }} as jsonb) #> '{{ json_path_array(path) }}') = 'array'
        then jsonb_array_length(cast({{ expression }} as jsonb) #> '{{ json_path_array(path) }}') end)
{%- endmacro %}

{#-
  One JSON parse per row: DuckDB's json_transform into a struct of the fields in `spec`;
  PostgreSQL keeps jsonb. Read the fields with json_field(parsed, 'a.b').
-#}
{% macro json_parse(expression, spec) -%}
    {{ return(adapter.dispatch('json_parse')(expression, spec)) }}
{%- endmacro %}

{% macro default__json_parse(expression, spec) -%}
    json_transform({{ expression }}, '{{ spec }}')
{%- endmacro %}

{% macro postgres__json_parse(expression, spec) -%}
    cast({{ expression }} as jsonb)
{%- endmacro %}

{#-
  A field of json_parse()'s result by dotted path: struct access on DuckDB, text (cast to
  `type` when given) on PostgreSQL; `type='json'` keeps a jsonb value.
-#}
{% macro json_field(parsed, path, type=none) -%}
    {{ return(adapter.dispatch('json_field')(parsed, path, type)) }}
{%- endmacro %}

{% macro default__json_field(parsed, path, type=none) -%}
    {{ parsed }}.{{ path }}
{%- endmacro %}

{% macro postgres__json_field(parsed, path, type=none) -%}
    {%- set steps = '{' ~ (path.split('.') | join(',')) ~ '}' -%}
    {%- if type == 'json' -%}
        ({{ parsed }} #> '{{ steps }}')
    {%- elif type -%}
        cast({{ parsed }} #>> '{{ steps }}' as {{ type }})
    {%- else -%}
        ({{ parsed }} #>> '{{ steps }}')
    {%- endif -%}
{%- endmacro %}

{#- An empty list of text (a default for list columns). -#}
{% macro empty_text_list() -%}
    {{ return(adapter.dispatch('empty_text_list')()) }}
{%- endmacro %}
{% macro default__empty_text_list() -%} [] {%- endmacro %}
{% macro postgres__empty_text_list() -%} array[]::text[] {%- endmacro %}

{#- The distinct non-null values of a group, sorted, as a list (aggregate). -#}
{% macro sorted_distinct_list(expression) -%}
    {{ return(adapter.dispatch('sorted_distinct_list')(expression)) }}
{%- endmacro %}

{% macro default__sorted_distinct_list(expression) -%}
    list_sort(list_distinct(list({{ expression }})))
{%- endmacro %}

{% macro postgres__sorted_distinct_list(expression) -%}
    array_remove(array_agg(distinct {{ expression }} order by {{ expression }}), null)
{%- endmacro %}

{#- The first value of a group in `order_by` order, nulls included (aggregate). -#}
{% macro first_in_order(expression, order_by) -%}
    {{ return(adapter.dispatch('first_in_order')(expression, order_by)) }}
{%- endmacro %}

{% macro default__first_in_order(expression, order_by) -%}
    first({{ expression }} order by {{ order_by }})
{%- endmacro %}

{% macro postgres__first_in_order(expression, order_by) -%}
    (array_agg({{ expression }} order by {{ nulls_last(order_by) }}))[1]
{%- endmacro %}

{#- An interval of `n` days (hours, minutes); `n` may be an expression. -#}
{% macro interval_days(n) -%}
    {{ return(adapter.dispatch("interval_days")(n)) }}
{%- endmacro %}
{% macro default__interval_days(n) -%} interval ({{ n }}) day {%- endmacro %}
{% macro postgres__interval_days(n) -%} make_interval(days => cast({{ n }} as integer)) {%- endmacro %}

{% macro interval_hours(n) -%}
    {{ return(adapter.dispatch("interval_hours")(n)) }}
{%- endmacro %}
{% macro default__interval_hours(n) -%} interval ({{ n }}) hour {%- endmacro %}
{% macro postgres__interval_hours(n) -%} make_interval(hours => cast({{ n }} as integer)) {%- endmacro %}

{#- Text cast to `type`, null where it is not one (DuckDB's TRY_CAST). -#}
{% macro try_cast_text(expression, type) -%}
    {{ return(adapter.dispatch('try_cast_text')(expression, type)) }}
{%- endmacro %}

{% macro default__try_cast_text(expression, type) -%}
    try_cast({{ expression }} as {{ type }})
{%- endmacro %}

{% macro postgres__try_cast_text(expression, type) -%}
    {%- set number = "'^\\s*[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?\\s*$'" -%}
    {%- if type | lower in ('bigint', 'integer', 'int') -%}
        case when trim({{ expression }}) ~ '^[-+]?[0-9]{1,18}$' then cast({{ expression }} as {{ type }}) end
    {%- else -%}
        case when {{ expression }} ~ {{ number }} then cast({{ expression }} as {{ type }}) end
    {%- endif -%}
{%- endmacro %}

{#- A text list's values joined by `separator`. -#}
{% macro text_list_join(expression, separator) -%}
    array_to_string({{ expression }}, '{{ separator }}')
{%- endmacro %}

{#-
  PostgreSQL: the elements of a JSON list that may come as a GraphQL connection
  ({nodes: [...]}) or flat, as a set of jsonb (use in FROM or in array(select ...)).
-#}
{% macro json_connection_elements(expression) -%}
    jsonb_array_elements(case jsonb_typeof({{ expression }})
        when 'array' then {{ expression }}
        when 'object' then coalesce({{ expression }} -> 'nodes', '[]'::jsonb)
        else '[]'::jsonb
    end)
{%- endmacro %}

{#- A float rounded to `digits` decimals, still a float (PostgreSQL rounds only numerics). -#}
{% macro round_float(expression, digits) -%}
    {{ return(adapter.dispatch('round_float')(expression, digits)) }}
{%- endmacro %}
{% macro default__round_float(expression, digits) -%} round({{ expression }}, {{ digits }}) {%- endmacro %}
{% macro postgres__round_float(expression, digits) -%}
    cast(round(cast({{ expression }} as numeric), {{ digits }}) as double precision)
{%- endmacro %}
