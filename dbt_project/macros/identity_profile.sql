{#-
  Profile scores and names that dim_customers derives, kept here so the rules read in one
  place and its unit tests pin them.
-#}

{#-
  An RFM score 1..5: the quintile of `expression` among buyers, 5 for the highest value.
  Equal values share a score (the quintile of their lowest rank), so two people with the
  same number of orders never land in different quintiles. For recency the expression is
  the last order's time: the most recent buyers score 5.
-#}
{% macro rfm_score(expression) -%}
    cast(1 + floor(5 * (rank() over (order by {{ expression }}) - 1) / count(*) over ()) as integer)
{%- endmacro %}

{#-
  The RFM segment of a buyer from recency (r), frequency (f) and monetary (m) scores,
  with fm the rounded mean of f and m. The first rule that holds names the segment:

  | segment            | rule                      | who                                  |
  |--------------------|---------------------------|--------------------------------------|
  | Champions          | r >= 4 and fm >= 4        | bought lately, often, much           |
  | Loyal              | r >= 3 and fm >= 3        | buy regularly                        |
  | New                | r >= 4 and f = 1          | first order lately                   |
  | Potential loyalist | r >= 4                    | recent, a few orders                 |
  | Can't lose them    | r = 1 and fm >= 4         | were the best, long gone             |
  | At risk            | r <= 2 and fm >= 3        | were good, slipping away             |
  | Need attention     | r = 3                     | middling on everything               |
  | Hibernating        | r = 2                     | few orders, a while ago              |
  | Lost               | otherwise (r = 1)         | few orders, long ago                 |

  Null when there are no scores (no orders).
-#}
{% macro rfm_segment_name(r, f, m) -%}
    {%- set fm = 'round((' ~ f ~ ' + ' ~ m ~ ') / 2.0)' -%}
    case
        when {{ r }} is null then null
        when {{ r }} >= 4 and {{ fm }} >= 4 then 'Champions'
        when {{ r }} >= 3 and {{ fm }} >= 3 then 'Loyal'
        when {{ r }} >= 4 and {{ f }} = 1 then 'New'
        when {{ r }} >= 4 then 'Potential loyalist'
        when {{ r }} = 1 and {{ fm }} >= 4 then 'Can''t lose them'
        when {{ r }} <= 2 and {{ fm }} >= 3 then 'At risk'
        when {{ r }} = 3 then 'Need attention'
        when {{ r }} = 2 then 'Hibernating'
        else 'Lost'
    end
{%- endmacro %}

{#- Every name rfm_segment_name gives, for accepted-values checks. -#}
{% macro rfm_segment_names() -%}
    {{ return(['Champions', 'Loyal', 'New', 'Potential loyalist', "Can't lose them",
               'At risk', 'Need attention', 'Hibernating', 'Lost']) }}
{%- endmacro %}

{#-
  The lifecycle stage from order dates, relative to as_of (days are dbt vars):
  prospect (no order), new (first order within tailor_lifecycle_new_within_days),
  active (last order within tailor_lifecycle_active_within_days), lapsed (within
  tailor_lifecycle_lapsed_within_days), churned (older).
-#}
{% macro lifecycle_stage(first_order_at, last_order_at) -%}
    case
        when {{ last_order_at }} is null then 'prospect'
        when {{ first_order_at }}
            >= {{ as_of() }} - to_days({{ var('tailor_lifecycle_new_within_days') }}) then 'new'
        when {{ last_order_at }}
            >= {{ as_of() }} - to_days({{ var('tailor_lifecycle_active_within_days') }}) then 'active'
        when {{ last_order_at }}
            >= {{ as_of() }} - to_days({{ var('tailor_lifecycle_lapsed_within_days') }}) then 'lapsed'
        else 'churned'
    end
{%- endmacro %}

{#- No value below zero (nulls pass: a count is null-checked on its own). -#}
{% test not_negative(model, column_name) %}
select {{ column_name }} from {{ model }} where {{ column_name }} < 0
{% endtest %}
