{{ config(materialized='incremental', unique_key='record_key', incremental_strategy='delete+insert') }}
-- Which customer_id each record belongs to, kept from run to run so ids never churn.
-- A cluster keeps the id its members already had (when two clusters merge, the older id
-- wins; when one splits, the part holding most of the id's records keeps it). A new
-- cluster gets 'cus_' || md5 of its anchor: the earliest record's email (as ids were
-- derived before this map existed), or the record key when it has no email.
-- Incremental, because this table is the memory of past runs: it is read before it is
-- rewritten, and rows of records that left the sources stay as history.
with

clusters as (
    select clusters.record_key, clusters.cluster_key, records.email_key, records.created_at
    from {{ ref('int_identity__clusters') }} as clusters
    inner join {{ ref('int_identity__records') }} as records using (record_key)
),

previous as (
    {%- if is_incremental() %}
    select record_key, customer_id, first_assigned_at from {{ this }}
    {%- else %}
    select
        cast(null as varchar) as record_key,
        cast(null as varchar) as customer_id,
        cast(null as timestamp) as first_assigned_at
    where false
    {%- endif %}
),

claims as (
    select
        clusters.cluster_key,
        previous.customer_id,
        count(*) as holders,
        min(previous.first_assigned_at) as first_assigned_at
    from clusters
    inner join previous using (record_key)
    group by all
),

won as (
    select * from claims
    qualify row_number() over (partition by customer_id order by holders desc, cluster_key) = 1
),

kept as (
    select cluster_key, customer_id, first_assigned_at from won
    qualify row_number() over (
        partition by cluster_key order by first_assigned_at, customer_id
    ) = 1
),

anchors as (
    select
        cluster_key,
        first(
            coalesce('email:' || email_key, 'record:' || record_key)
            order by email_key is null, created_at, record_key
        ) as anchor
    from clusters
    where cluster_key not in (select cluster_key from kept)
    group by cluster_key
),

candidates as (
    select cluster_key, anchor, 'cus_' || substr(md5(anchor), 1, 20) as candidate_id
    from anchors
),

fresh as (
    select
        cluster_key,
        case
            when row_number() over (partition by candidate_id order by cluster_key) = 1
                and candidate_id not in (select customer_id from previous)
                then candidate_id
            else 'cus_' || substr(md5(anchor || ':' || cluster_key), 1, 20)
        end as customer_id,
        {{ as_of() }} as first_assigned_at
    from candidates
),

assigned as (
    select * from kept
    union all
    select * from fresh
)

select
    clusters.record_key,
    assigned.customer_id,
    clusters.cluster_key,
    assigned.first_assigned_at,
    {{ as_of() }} as last_resolved_at
from clusters
inner join assigned using (cluster_key)
