-- The records this run re-resolves: new ones, ones whose match keys changed, ones that
-- left the sources, and every record sharing a block (an email, a phone, a postcode and
-- name, an email domain and last name) with one of those, before or after the change:
-- a rule's guards (how many hold an email, whether their names disagree, block sizes)
-- look at a whole block, so a change can alter links between two other records of it.
-- Every other record keeps its links, cluster and customer_id untouched.
-- On the first run and on --full-refresh every current record is here ('full').
{%- set last = identity_last_resolution() %}
with

current_records as (
    select * from {{ ref('int_identity__records') }}
)

{%- if last is none %}

select record_key, 'full' as change, false as is_removed
from current_records

{%- else %},

previous as (
    select
        record_key, match_fingerprint,
        email_key, phone_key, first_name_key, last_name_key, postal_key
    from {{ last }}
    where not is_removed
),

changed as (
    select
        coalesce(current_records.record_key, previous.record_key) as record_key,
        case
            when previous.record_key is null then 'new'
            when current_records.record_key is null then 'removed'
            else 'changed'
        end as change
    from current_records
    full join previous using (record_key)
    where previous.record_key is null
        or current_records.record_key is null
        or current_records.match_fingerprint is distinct from previous.match_fingerprint
),

-- The block keys the changed records hold now and held before.
touched as (
    select email_key, phone_key, first_name_key, last_name_key, postal_key
    from current_records
    where record_key in (select record_key from changed)
    union all
    select email_key, phone_key, first_name_key, last_name_key, postal_key
    from previous
    where record_key in (select record_key from changed)
),

-- A domain and last name (gmail.com and a common surname) can hold thousands of records,
-- and int_identity__links skips a block above the cap: one that was above it before the
-- change and still is links nothing either way, so its other records stay as they are.
email_blocks_now as (
    select split_part(email_key, '@', 2) || '|' || last_name_key as block, count(*) as size
    from current_records
    where email_key is not null and last_name_key is not null
    group by 1
),

email_blocks_before as (
    select split_part(email_key, '@', 2) || '|' || last_name_key as block, count(*) as size
    from previous
    where email_key is not null and last_name_key is not null
    group by 1
),

touched_email_blocks as (
    select split_part(email_key, '@', 2) || '|' || last_name_key as block
    from touched
    except
    select block
    from email_blocks_now
    inner join email_blocks_before using (block)
    where email_blocks_now.size > {{ var('tailor_identity_max_block_size') }}
        and email_blocks_before.size > {{ var('tailor_identity_max_block_size') }}
),

neighbours as (
    select record_key from current_records
    where email_key in (select email_key from touched)
    union
    select record_key from current_records
    where phone_key in (select phone_key from touched)
    union
    select record_key from current_records
    where split_part(email_key, '@', 2) || '|' || last_name_key
        in (select block from touched_email_blocks)
    union
    select record_key from current_records
    where postal_key || '|' || last_name_key
        in (select postal_key || '|' || last_name_key from touched)
    union
    select record_key from current_records
    where postal_key || '|' || first_name_key
        in (select postal_key || '|' || first_name_key from touched)
    -- swapped first and last names block across the two fields
    union
    select record_key from current_records
    where postal_key || '|' || first_name_key
        in (select postal_key || '|' || last_name_key from touched)
    union
    select record_key from current_records
    where postal_key || '|' || last_name_key
        in (select postal_key || '|' || first_name_key from touched)
)

select record_key, change, change = 'removed' as is_removed
from changed
union all
select record_key, 'neighbour', false
from neighbours
where record_key not in (select record_key from changed)

{%- endif %}
