{#-
  A merge field's value as Mailchimp takes it: text, blank replaced by the fallback, at
  most `tailor_merge_max_chars` characters (255 for a text merge field), cut with an
  ellipsis.
-#}
{% macro merge_value(expression, fallback="''") -%}
    {%- set limit = var('tailor_merge_max_chars') | int -%}
    {%- set value = "coalesce(nullif(trim(cast(" ~ expression ~ " as varchar)), ''), " ~ fallback ~ ")" -%}
    case
        when length({{ value }}) > {{ limit }} then left({{ value }}, {{ limit - 1 }}) || '…'
        else {{ value }}
    end
{%- endmacro %}

{#- A cart's items as text: fct_abandoned_checkouts.items is a list of titles or text. -#}
{% macro cart_items_text(expression) -%}
    {%- set relation = ref('fct_abandoned_checkouts') -%}
    {%- set is_list = [] -%}
    {%- if execute -%}
        {%- for column in adapter.get_columns_in_relation(relation) -%}
            {#- DuckDB says VARCHAR[], PostgreSQL's information schema ARRAY -#}
            {%- if column.name | lower == 'items'
                    and (column.data_type.endswith('[]') or column.data_type | upper == 'ARRAY') -%}
                {%- do is_list.append(true) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {%- if is_list -%} array_to_string({{ expression }}, ', ') {%- else -%} {{ expression }} {%- endif -%}
{%- endmacro %}
