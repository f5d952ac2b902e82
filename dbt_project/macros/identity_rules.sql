{#-
  Building blocks of identity resolution, shared by the int_identity__* models.
-#}

{#- A SQL list literal of a list var, lower-cased: ('a', 'b'). -#}
{% macro identity_sql_list(values) -%}
    ({%- for value in values -%}'{{ value | lower | replace("'", "''") }}'{{ ", " if not loop.last }}{%- endfor -%})
{%- endmacro %}

{#-
  How alike two records' names are, 0..1 (for the link's score): the worse of first-name
  and last-name Jaro-Winkler, in the better of the two orders (as given, or first and last
  swapped). First names compare by spelling or by formal name (Bill and William).
  A part missing on either side is no evidence against; the swapped order needs all four.
-#}
{% macro identity_name_similarity(a, b) -%}
    greatest(
        least(
            coalesce(greatest(
                jaro_winkler_similarity({{ a }}.first_name_key, {{ b }}.first_name_key),
                jaro_winkler_similarity({{ a }}.first_name_canonical, {{ b }}.first_name_canonical)
            ), 1.0),
            coalesce(jaro_winkler_similarity({{ a }}.last_name_key, {{ b }}.last_name_key), 1.0)
        ),
        coalesce(least(
            jaro_winkler_similarity({{ a }}.first_name_key, {{ b }}.last_name_key),
            jaro_winkler_similarity({{ a }}.last_name_key, {{ b }}.first_name_key)
        ), 0.0)
    )
{%- endmacro %}

{#-
  Two name keys are one name: equal, or Jaro-Winkler at least
  `tailor_identity_name_min_similarity`, or a keystroke or two apart
  (`tailor_identity_name_max_edits`, Damerau-Levenshtein) with the same first letter:
  people mistype the middle of a name, rarely its start, so Tim/Tom-like pairs of
  different first letters (Kerry, Jerry) stay apart.
-#}
{% macro identity_same_name(x, y) -%}
    ({{ x }} = {{ y }}
        or jaro_winkler_similarity({{ x }}, {{ y }}) >= {{ var('tailor_identity_name_min_similarity') }}
        or (left({{ x }}, 1) = left({{ y }}, 1)
            and damerau_levenshtein({{ x }}, {{ y }}) <= {{ var('tailor_identity_name_max_edits') }}
            and least(length({{ x }}), length({{ y }})) >= 4))
{%- endmacro %}

{#-
  The names of two records agree: first and last names each the same name (a part
  missing on either side does not disagree), or the same with first and last swapped.
-#}
{% macro identity_names_agree(a, b) -%}
    (
        (
            ({{ a }}.first_name_key is null or {{ b }}.first_name_key is null
                or {{ a }}.first_name_canonical = {{ b }}.first_name_canonical
                or {{ identity_same_name(a ~ '.first_name_key', b ~ '.first_name_key') }})
            and ({{ a }}.last_name_key is null or {{ b }}.last_name_key is null
                or {{ identity_same_name(a ~ '.last_name_key', b ~ '.last_name_key') }})
        )
        or coalesce(
            {{ identity_same_name(a ~ '.first_name_key', b ~ '.last_name_key') }}
            and {{ identity_same_name(a ~ '.last_name_key', b ~ '.first_name_key') }},
            false
        )
    )
{%- endmacro %}

{#-
  For records sharing an email or phone: their first names agree (or one is missing), or
  their names agree swapped. Last names are left out on purpose: the people who share an
  identifier are a family (one surname, different first names), while the same first name
  with another surname is a typo (Ray, Rya) or a new married name of the same person.
-#}
{% macro identity_first_names_agree(a, b) -%}
    (
        {{ a }}.first_name_key is null or {{ b }}.first_name_key is null
        or {{ a }}.first_name_canonical = {{ b }}.first_name_canonical
        or {{ identity_same_name(a ~ '.first_name_key', b ~ '.first_name_key') }}
        or coalesce(
            {{ identity_same_name(a ~ '.first_name_key', b ~ '.last_name_key') }}
            and {{ identity_same_name(a ~ '.last_name_key', b ~ '.first_name_key') }},
            false
        )
    )
{%- endmacro %}

{#-
  Links between records that hold the same value of an identifier (email, phone).
  Guards: a value held by too many records links nothing; a value whose holders' names
  disagree (a family email, a household phone) is "contested" and links only holders
  whose first names are both present and agree. First names always have to agree.
  Only pairs with an `is_affected` record are made; the guards still see every holder.
-#}
{% macro identity_identifier_links(records, column, rule) -%}
    (
        with holders as (
            select * from (
                select *, count(*) over (partition by {{ column }}) as holder_count
                from {{ records }}
                where {{ column }} is not null
            ) as counted
            where holder_count <= {{ var('tailor_identity_max_records_per_identifier') }}
        ),

        -- whole groups, so that `contested` sees all their pairs
        touched_holders as (
            select * from holders
            where {{ column }} in (select {{ column }} from holders where is_affected)
        ),

        pairs as (
            select
                a.record_key as left_record_key,
                b.record_key as right_record_key,
                a.{{ column }} as identifier,
                {{ identity_name_similarity('a', 'b') }} as name_similarity,
                {{ identity_first_names_agree('a', 'b') }} as names_agree,
                a.first_name_key is not null and b.first_name_key is not null as both_named,
                a.is_affected or b.is_affected as is_affected
            from touched_holders as a
            inner join touched_holders as b
                on a.{{ column }} = b.{{ column }}
                and a.record_key < b.record_key
        ),

        contested as (
            select distinct identifier from pairs
            where both_named and not names_agree
        )

        select
            left_record_key,
            right_record_key,
            '{{ rule }}' as rule,
            {{ round_float('name_similarity', 4) }} as score
        from pairs
        where names_agree
            and is_affected
            and (both_named or identifier not in (select identifier from contested))
    )
{%- endmacro %}

{#-
  Survivorship: the value of `column` a profile keeps, the first non-empty one in
  `order_by` (e.g. Shopify first, then the newest). Declared once per attribute in
  dim_customers, documented in its YAML.
-#}
{% macro identity_survivor(column, order_by) -%}
    {{ return(adapter.dispatch('identity_survivor')(column, order_by)) }}
{%- endmacro %}

{% macro default__identity_survivor(column, order_by) -%}
    first({{ column }} order by {{ order_by }}) filter (where {{ column }} is not null)
{%- endmacro %}

{% macro postgres__identity_survivor(column, order_by) -%}
    (array_agg({{ column }} order by {{ nulls_last(order_by) }}) filter (where {{ column }} is not null))[1]
{%- endmacro %}
