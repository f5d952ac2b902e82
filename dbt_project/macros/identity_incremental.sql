{#-
  Incremental identity resolution. The id map (int_identity__customer_ids) is the memory
  of the last run: every record it resolved, the match keys it resolved it with, its
  cluster and its customer_id. int_identity__changes compares the current records with
  it; links, clusters and ids are then recomputed only around what changed.
-#}

{#- The match keys the rules read: a record whose fingerprint changes is re-resolved. -#}
{% macro identity_match_fingerprint() -%}
    {{ return(adapter.dispatch('identity_match_fingerprint')()) }}
{%- endmacro %}

{#- The same keys as JSON text: the fingerprint is only compared within one warehouse. -#}
{% macro postgres__identity_match_fingerprint() -%}
    md5(json_build_object(
        'email', email_key, 'phone', phone_key, 'first', first_name_key,
        'canonical', first_name_canonical, 'last', last_name_key,
        'postal', postal_key, 'address', address_key
    )::text)
{%- endmacro %}

{% macro default__identity_match_fingerprint() -%}
    md5(cast({
        'email': email_key, 'phone': phone_key, 'first': first_name_key,
        'canonical': first_name_canonical, 'last': last_name_key,
        'postal': postal_key, 'address': address_key
    } as varchar))
{%- endmacro %}

{#-
  The id map as the last run left it, or none when this run must resolve every record:
  the first run, `--full-refresh` (the map itself survives it, so ids stay the same), a
  map from before fingerprints, or a missing links table. Read without ref() on purpose:
  the map is written at the end of the chain, and what is wanted is its state before
  that. It is the chain's commit point: a run that fails before it leaves the map as it
  was, and the next run redoes the same changes.
-#}
{% macro identity_last_resolution() -%}
    {%- if not execute or flags.FULL_REFRESH -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set map = adapter.get_relation(this.database, this.schema, 'int_identity__customer_ids') -%}
    {%- set links = adapter.get_relation(this.database, this.schema, 'int_identity__links') -%}
    {%- if map is none or links is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set columns = adapter.get_columns_in_relation(map) | map(attribute='name') | list -%}
    {%- if 'match_fingerprint' not in columns or 'is_removed' not in columns -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(map) }}
{%- endmacro %}

{#-
  Join condition for a self-join that makes only the pairs with an affected record:
  `a` is affected, and a pair of two affected records comes once (a before b). On a
  full resolution every record is affected and this is `a.record_key < b.record_key`.
-#}
{% macro identity_affected_pair(a, b) -%}
    {{ a }}.is_affected
    and (not {{ b }}.is_affected or {{ a }}.record_key < {{ b }}.record_key)
{%- endmacro %}
