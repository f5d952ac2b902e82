{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{% if is_incremental() %}
        delete from {{ this }}
        where left_record_key in (select record_key from {{ ref('int_identity__changes') }})
            or right_record_key in (select record_key from {{ ref('int_identity__changes') }})
        {% endif %}"
) }}
-- Every pair of records judged to be the same person, with the rule and the score that
-- made the link, so an analyst can see why two records were merged. One row per pair:
-- when several rules fire, the one with the highest priority (email, phone, similar
-- email, name and address) wins.
-- Incremental: the links of the records in int_identity__changes are deleted (pre-hook)
-- and made again; a pair of two other records links exactly as before. Block sizes and
-- guards are still counted over every record.
with

records as (
    select
        records.*,
        records.record_key in (select record_key from {{ ref('int_identity__changes') }})
            as is_affected
    from {{ ref('int_identity__records') }} as records
),

email_links as {{ identity_identifier_links('records', 'email_key', 'same_email') }},

phone_links as {{ identity_identifier_links('records', 'phone_key', 'same_phone') }},

-- Fuzzy: records in the same postcode sharing a last name, a first name, or one's first
-- name as the other's last (swapped fields). Blocks larger than the cap are skipped.
blockable as (
    select
        *,
        count(*) over (partition by postal_key, last_name_key) as last_block_size,
        count(*) over (partition by postal_key, first_name_key) as first_block_size
    from records
    where postal_key is not null and address_key is not null
        and first_name_key is not null and last_name_key is not null
),

-- Pairs with an affected record `a`; a pair of two affected records only once.
candidates as (
    select
        least(a.record_key, b.record_key) as left_record_key,
        greatest(a.record_key, b.record_key) as right_record_key
    from blockable as a
    inner join blockable as b
        on a.postal_key = b.postal_key and a.last_name_key = b.last_name_key
        and {{ identity_affected_pair('a', 'b') }}
    where a.last_block_size <= {{ var('tailor_identity_max_block_size') }}
    union
    select least(a.record_key, b.record_key), greatest(a.record_key, b.record_key)
    from blockable as a
    inner join blockable as b
        on a.postal_key = b.postal_key and a.first_name_key = b.first_name_key
        and {{ identity_affected_pair('a', 'b') }}
    where a.first_block_size <= {{ var('tailor_identity_max_block_size') }}
    union
    -- swapped: `a`'s first name is `b`'s last name, with `a` affected or `b` affected
    select least(a.record_key, b.record_key), greatest(a.record_key, b.record_key)
    from blockable as a
    inner join blockable as b
        on a.postal_key = b.postal_key and a.first_name_key = b.last_name_key
        and a.record_key <> b.record_key
    where a.first_block_size <= {{ var('tailor_identity_max_block_size') }}
        and a.is_affected
    union
    select least(a.record_key, b.record_key), greatest(a.record_key, b.record_key)
    from blockable as b
    inner join blockable as a
        on a.postal_key = b.postal_key and a.first_name_key = b.last_name_key
        and a.record_key <> b.record_key
    where a.first_block_size <= {{ var('tailor_identity_max_block_size') }}
        and b.is_affected and not a.is_affected
),

scored as (
    select
        candidates.*,
        {{ identity_name_similarity('a', 'b') }} as name_similarity,
        {{ identity_names_agree('a', 'b') }} as names_agree,
        jaro_winkler_similarity(a.address_key, b.address_key) as address_similarity,
        -- Two different phones are evidence of two people.
        coalesce(a.phone_key <> b.phone_key, false) as has_conflicting_phone
    from candidates
    inner join records as a on a.record_key = candidates.left_record_key
    inner join records as b on b.record_key = candidates.right_record_key
),

fuzzy_links as (
    select
        left_record_key,
        right_record_key,
        'fuzzy_name_address' as rule,
        {{ round_float('(2 * name_similarity + address_similarity) / 3', 4) }} as score
    from scored
    where not has_conflicting_phone
        and names_agree
        and address_similarity >= {{ var('tailor_identity_fuzzy_min_address_similarity') }}
        and (2 * name_similarity + address_similarity) / 3
            >= {{ var('tailor_identity_fuzzy_min_score') }}
),

-- A mistyped email: same domain and last name, the addresses a keystroke or two apart.
email_blockable as (
    select
        *,
        split_part(email_key, '@', 2) as email_domain,
        count(*) over (partition by split_part(email_key, '@', 2), last_name_key) as block_size
    from records
    where email_key is not null and last_name_key is not null
),

email_typo_links as (
    select
        least(a.record_key, b.record_key) as left_record_key,
        greatest(a.record_key, b.record_key) as right_record_key,
        'similar_email' as rule,
        {{ round_float('jaro_winkler_similarity(a.email_key, b.email_key)', 4) }} as score
    from email_blockable as a
    inner join email_blockable as b
        on a.email_domain = b.email_domain and a.last_name_key = b.last_name_key
        and {{ identity_affected_pair('a', 'b') }}
    where a.block_size <= {{ var('tailor_identity_max_block_size') }}
        and a.email_key <> b.email_key
        and levenshtein(a.email_key, b.email_key) <= {{ var('tailor_identity_email_max_edits') }}
        -- the digits are an account number more often than a typo: kpeck4935, kpeck46945
        and regexp_replace(a.email_key, '[^0-9]', '', 'g')
            = regexp_replace(b.email_key, '[^0-9]', '', 'g')
        and a.first_name_key is not null and b.first_name_key is not null
        and {{ identity_names_agree('a', 'b') }}
        and not coalesce(a.phone_key <> b.phone_key, false)
),

all_links as (
    select *, 1 as priority from email_links
    union all
    select *, 2 as priority from phone_links
    union all
    select *, 3 as priority from email_typo_links
    union all
    select *, 4 as priority from fuzzy_links
)

select left_record_key, right_record_key, rule, score, priority
from ({{ first_row_per('all_links', 'left_record_key, right_record_key', 'priority, score desc') }}) as best
