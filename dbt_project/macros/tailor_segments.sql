{#-
  Audiences are discovered, not listed: every model under models/marts/segments/ whose
  YAML has `meta.audience` becomes one (tailor.destinations.audiences reads the same
  declarations from manifest.json). Adding a segment is a SQL file and its YAML.

  dbt orders models by the ref()s it finds while parsing, and a list discovered from
  `graph` exists only at run time, so `audience_members` cannot ref() the segments and
  may run while they are being built. As a model (lineage, docs, `dbt run --select
  audience_members`) it reads only the segments this invocation does not build; the
  on-run-end hook `tailor_refresh_audiences`, after every model of an invocation that
  built a segment, rebuilds it from all of them, so the table the sync reads is current.
-#}

{#- Segment models with meta.audience, sorted by name; each with its audience settings. -#}
{% macro tailor_segments() %}
    {%- set segments = [] -%}
    {%- if execute -%}
        {%- for node in graph.nodes.values()
                | selectattr('resource_type', 'equalto', 'model')
                | sort(attribute='name') -%}
            {%- set meta = node.config.get('meta', {}) or node.get('meta', {}) -%}
            {%- if node.original_file_path.startswith('models/marts/segments/')
                    and meta.get('audience') is not none -%}
                {%- set audience = meta['audience'] or {} -%}
                {%- if not audience.get('tag') -%}
                    {{ exceptions.raise_compiler_error(node.name ~ ': meta.audience.tag is required') }}
                {%- endif -%}
                {%- do segments.append({
                    'model': node.name,
                    'unique_id': node.unique_id,
                    'relation': api.Relation.create(
                        database=node.database, schema=node.schema, identifier=node.alias),
                    'audience': audience.get('name')
                        or (node.name[4:] if node.name.startswith('seg_') else node.name),
                    'tag': audience['tag'],
                    'merge_fields': audience.get('merge_fields') or [],
                    'priority_group': audience.get('priority_group'),
                    'priority': audience.get('priority', 0) | int,
                }) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(segments) }}
{% endmacro %}

{#-
  A model's relation: ref() in a model (so dbt records the dependency), the graph in the
  on-run-end hook (where dbt refuses refs it did not see while parsing).
-#}
{% macro tailor_relation(name, in_model) -%}
    {%- if in_model -%}
        {{ return(ref(name)) }}
    {%- endif -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.name == name -%}
        {{ return(api.Relation.create(database=node.database, schema=node.schema, identifier=node.alias)) }}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error('no model named ' ~ name) }}
{%- endmacro %}

{#-
  The segments audience_members can read now: their table exists (a segment added since
  the last build has none yet) and, for the model (`in_model`), this invocation does not
  build it (another thread may be replacing that table right now; the on-run-end hook,
  which runs after every model, reads it instead).
-#}
{% macro tailor_built_segments(in_model=false) %}
    {%- set segments = [] -%}
    {%- for segment in tailor_segments() -%}
        {%- if in_model and segment.unique_id in selected_resources -%}
        {%- elif load_relation(segment.relation) is not none -%}
            {%- do segments.append(segment) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(segments) }}
{% endmacro %}

{% macro sql_text(value) -%}
    {%- if value is none -%} null {%- else -%} '{{ value | string | replace("'", "''") }}' {%- endif -%}
{%- endmacro %}

{#-
  The rows the sync sends, see _audience_members.yml, from the segments whose table
  exists. `in_model`: called by the model (refs) rather than the on-run-end hook (graph).
-#}
{% macro audience_members_sql(in_model=false) %}
    {%- set fields_relation = tailor_relation('audience_merge_fields', in_model) -%}
    {%- set segments = tailor_built_segments(in_model) -%}
    {%- set available = [] -%}
    {%- set declared = [] -%}
    {%- if execute -%}
        {%- for column in adapter.get_columns_in_relation(fields_relation) -%}
            {%- do available.append(column.name | upper) -%}
        {%- endfor -%}
        {%- for segment in segments -%}
            {%- for tag in segment.merge_fields -%}
                {%- if tag not in available -%}
                    {{ exceptions.raise_compiler_error(segment.model ~ ': merge field ' ~ tag ~ ' is not a column of audience_merge_fields (' ~ available | join(', ') ~ ')') }}
                {%- endif -%}
                {%- if tag not in declared -%}{%- do declared.append(tag) -%}{%- endif -%}
            {%- endfor -%}
        {%- endfor -%}
    {%- endif -%}
with

segment_members as (
    {%- for segment in segments %}
    select
        {{ sql_text(segment.audience) }} as audience,
        {{ sql_text(segment.tag) }} as esp_tag,
        {{ sql_text(segment.priority_group) }} as priority_group,
        {{ segment.priority }} as priority,
        array[{% for tag in segment.merge_fields %}'{{ tag }}'{% if not loop.last %}, {% endif %}{% endfor %}]::varchar[]
            as merge_tags,
        cast(customer_id as varchar) as customer_id,
        cast(reason as varchar) as reason
    from {{ segment.relation }}
    union all
    {%- endfor %}
    -- no row; names the columns when no segment is readable yet
    select
        null::varchar as audience, null::varchar as esp_tag, null::varchar as priority_group,
        null::integer as priority, null::varchar[] as merge_tags, null::varchar as customer_id,
        null::varchar as reason
    where false
),

-- Within a priority group a person keeps only the highest-priority segment (then the
-- audience name, so ties are decided the same way every run).
journeys as (
    select audience, esp_tag, priority_group, priority, merge_tags, customer_id, reason
    from (
        select *, row_number() over (
            partition by priority_group, customer_id order by priority desc, audience
        ) as rank_in_group
        from segment_members
    ) as ranked
    where priority_group is null or rank_in_group = 1
),

-- The merge fields sent for a person are those of all their audiences, so every row of
-- one person carries the same values and the sync upserts the contact once.
person_tags as (
    select customer_id, {{ merge_tags_of_person('merge_tags') }} as merge_tags
    from journeys
    group by customer_id
),

customers as (
    select * from {{ tailor_relation('dim_customers', in_model) }}
),

fields as (
    select
        customer_id,
        {{ merge_values_by_tag(declared, 'fields') }} as values_by_tag
    from {{ fields_relation }} as fields
)

select
    journeys.audience,
    journeys.esp_tag,
    customers.customer_id,
    customers.email,
    'subscribed' as email_status,
    customers.first_name,
    customers.last_name,
    {{ merge_fields_json('person_tags.merge_tags', 'fields.values_by_tag') }} as merge_fields,
    journeys.reason
from journeys
inner join person_tags using (customer_id)
inner join customers using (customer_id)
left join fields using (customer_id)
where customers.email_consent_state = 'subscribed'
  and customers.email is not null
{% endmacro %}

{#-
  on-run-end: when this invocation built audience_members, a segment or the merge
  fields, rebuild audience_members from every segment as it now is (when the table
  exists: a first build creates it as a model), and record each segment's size in
  main.segment_runs, one row per as_of and segment (a rebuild for the same as_of replaces
  it; `tailor segments` compares the newest as_of with the one before). Refreshing after
  any segment also keeps audience_members current when each model runs in its own dbt
  invocation, one after another (the Airflow DAG's per-model tasks).
-#}
{% macro tailor_refresh_audiences(results) %}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set built = [] -%}
    {%- for result in results -%}
        {%- set node = result.node -%}
        {%- if node.resource_type == 'model' and result.status == 'success' and (
                node.name in ('audience_members', 'audience_merge_fields')
                or node.original_file_path.startswith('models/marts/segments/')) -%}
            {%- do built.append(node.name) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if not built -%}{{ return('') }}{%- endif -%}
    {%- set target_relation = tailor_relation('audience_members', false) -%}
    {%- if load_relation(target_relation) is none -%}{{ return('') }}{%- endif -%}
    {%- set runs = target_relation.schema ~ '.segment_runs' -%}
    {%- call statement('tailor_refresh_audiences') -%}
{{ replace_table_as(target_relation, audience_members_sql()) }}
create table if not exists {{ runs }} (
    run_id         varchar not null,
    as_of          timestamp not null,
    recorded_at    timestamp not null,
    audience       varchar not null,
    model          varchar not null,
    esp_tag        varchar,
    priority_group varchar,
    segment_rows   bigint,   -- people the segment selects
    members        bigint,   -- rows sent: after priority groups and consent
    primary key (as_of, audience)
);
{%- for segment in tailor_built_segments() %}
{{ upsert_into(runs) }}
select
    '{{ invocation_id }}',
    {{ as_of() }},
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}' as timestamp),
    {{ sql_text(segment.audience) }},
    '{{ segment.model }}',
    {{ sql_text(segment.tag) }},
    {{ sql_text(segment.priority_group) }},
    (select count(*) from {{ segment.relation }}),
    (select count(*) from {{ target_relation }} where audience = {{ sql_text(segment.audience) }})
{{ upsert_end(['as_of', 'audience'], ['run_id', 'as_of', 'recorded_at', 'audience', 'model', 'esp_tag', 'priority_group', 'segment_rows', 'members']) }};
{%- endfor %}
    {%- endcall -%}
    {#- Hooks run in dbt's own transaction, which it rolls back: commit ours. -#}
    {%- do adapter.commit() -%}
    {{ return('') }}
{% endmacro %}

{#- One lifecycle stage of dim_customers as a segment (seg_lifecycle_<stage>.sql). -#}
{% macro lifecycle_stage_segment(stage) %}
-- People whose lifecycle stage (dim_customers.lifecycle_stage, relative to as_of) is '{{ stage }}'.
select
    customer_id,
    lifecycle_stage,
    days_since_last_order,
    'lifecycle stage {{ stage }}'
        || coalesce(', last order ' || days_since_last_order || ' days before as_of', '')
        as reason
from {{ ref('dim_customers') }}
where lifecycle_stage = '{{ stage }}'
{% endmacro %}
