{#-
  on-run-start: on PostgreSQL, the DuckDB functions the models call that PostgreSQL does
  not have, under the same names and with the same results, created in the target schema
  (first on the profile's search_path). levenshtein comes from fuzzystrmatch, unaccent
  (behind strip_accents) from unaccent. Nothing to do on DuckDB.
-#}
{% macro tailor_create_functions() -%}
    {{ return(adapter.dispatch('tailor_create_functions')()) }}
{%- endmacro %}

{% macro default__tailor_create_functions() -%}
    select 1
{%- endmacro %}

{% macro postgres__tailor_create_functions() -%}
{%- set s = target.schema -%}
create extension if not exists fuzzystrmatch schema public;
create extension if not exists unaccent schema public;
create schema if not exists {{ s }};

-- DuckDB compares strings byte by byte (UTF-8): 'ë' is two letters to it. Each byte as
-- one character (Latin-1), so character-wise functions give DuckDB's values.
create or replace function {{ s }}.utf8_byte_chars(value text)
returns text language sql immutable strict parallel safe
as $fn$ select convert_from(convert_to(value, 'UTF8'), 'LATIN1') $fn$;

-- DuckDB's levenshtein: fuzzystrmatch's, over bytes.
create or replace function {{ s }}.levenshtein(s1 text, s2 text)
returns bigint language sql immutable strict parallel safe
as $fn$ select public.levenshtein({{ s }}.utf8_byte_chars(s1), {{ s }}.utf8_byte_chars(s2)) $fn$;

-- DuckDB's jaro_winkler_similarity: Jaro with a window of max(len)/2 - 1, transpositions
-- halved (integer), the Winkler boost (prefix of up to 4, weight 0.1) above 0.7; 0 when
-- either string is empty.
create or replace function {{ s }}.jaro_winkler_similarity(s1 text, s2 text)
returns double precision language plpgsql immutable strict parallel safe as $fn$
declare
    a text[] := regexp_split_to_array({{ s }}.utf8_byte_chars(s1), '');
    b text[] := regexp_split_to_array({{ s }}.utf8_byte_chars(s2), '');
    l1 int := octet_length(s1);  -- bytes: the database encoding is UTF-8
    l2 int := octet_length(s2);
    bound int;
    f1 boolean[];
    f2 boolean[];
    m int := 0;
    t int := 0;
    k int := 1;
    prefix int := 0;
    sim double precision;
begin
    if l1 = 0 or l2 = 0 then
        return 0.0;
    end if;
    bound := greatest(greatest(l1, l2) / 2 - 1, 0);
    f1 := array_fill(false, array[l1]);
    f2 := array_fill(false, array[l2]);
    for i in 1..l1 loop
        for j in greatest(1, i - bound)..least(l2, i + bound) loop
            if not f2[j] and a[i] = b[j] then
                f1[i] := true;
                f2[j] := true;
                m := m + 1;
                exit;
            end if;
        end loop;
    end loop;
    if m = 0 then
        return 0.0;
    end if;
    for i in 1..l1 loop
        if f1[i] then
            while not f2[k] loop
                k := k + 1;
            end loop;
            if a[i] <> b[k] then
                t := t + 1;
            end if;
            k := k + 1;
        end if;
    end loop;
    sim := (m::float8 / l1 + m::float8 / l2 + (m - t / 2)::float8 / m) / 3.0;
    if sim > 0.7 then
        while prefix < least(4, l1, l2) and a[prefix + 1] = b[prefix + 1] loop
            prefix := prefix + 1;
        end loop;
        sim := sim + prefix * 0.1 * (1.0 - sim);
    end if;
    return sim;
end
$fn$;

-- DuckDB's damerau_levenshtein: unrestricted (transposed letters may be edited again), over bytes.
create or replace function {{ s }}.damerau_levenshtein(s1 text, s2 text)
returns bigint language plpgsql immutable strict parallel safe as $fn$
declare
    a text[] := regexp_split_to_array({{ s }}.utf8_byte_chars(s1), '');
    b text[] := regexp_split_to_array({{ s }}.utf8_byte_chars(s2), '');
    l1 int := octet_length(s1);  -- bytes: the database encoding is UTF-8
    l2 int := octet_length(s2);
    big int := l1 + l2;
    d int[];
    last_row jsonb := '{}';
    db int;
    k int;
    l int;
    cost int;
begin
    if l1 = 0 then return l2; end if;
    if l2 = 0 then return l1; end if;
    -- d[i + 2][j + 2] is the distance of the first i and j letters
    d := array_fill(0, array[l1 + 2, l2 + 2]);
    d[1][1] := big;
    for i in 0..l1 loop
        d[i + 2][1] := big;
        d[i + 2][2] := i;
    end loop;
    for j in 0..l2 loop
        d[1][j + 2] := big;
        d[2][j + 2] := j;
    end loop;
    for i in 1..l1 loop
        db := 0;
        for j in 1..l2 loop
            k := coalesce((last_row ->> b[j])::int, 0);
            l := db;
            if a[i] = b[j] then
                cost := 0;
                db := j;
            else
                cost := 1;
            end if;
            d[i + 2][j + 2] := least(
                d[i + 1][j + 1] + cost,
                d[i + 2][j + 1] + 1,
                d[i + 1][j + 2] + 1,
                d[k + 1][l + 1] + (i - k - 1) + 1 + (j - l - 1)
            );
        end loop;
        last_row := last_row || jsonb_build_object(a[i], i);
    end loop;
    return d[l1 + 2][l2 + 2];
end
$fn$;

create or replace function {{ s }}.strip_accents(value text)
returns text language sql stable strict parallel safe
as $fn$ select public.unaccent(value) $fn$;

create or replace function {{ s }}.regexp_full_match(value text, pattern text)
returns boolean language sql immutable strict parallel safe
as $fn$ select value ~ ('^(?:' || pattern || ')$') $fn$;

-- DuckDB's strftime for the formats the models use (%Y %m %d %H %M %S).
create or replace function {{ s }}.strftime(value timestamp, format text)
returns text language sql immutable strict parallel safe as $fn$
    select to_char(value, replace(replace(replace(replace(replace(replace(format,
        '%Y', 'YYYY'), '%m', 'MM'), '%d', 'DD'), '%H', 'HH24'), '%M', 'MI'), '%S', 'SS'))
$fn$;

-- DuckDB's printf for one fixed-point number ('%.2f').
create or replace function {{ s }}.printf(format text, value numeric)
returns text language sql immutable strict parallel safe as $fn$
    select regexp_replace(format, '%[.]([0-9]+)f',
        round(value, coalesce(substring(format from '%[.]([0-9]+)f'), '0')::int)::text)
$fn$;

-- DuckDB's flatten(list(x)) for arrays: their concatenation over a group.
create or replace aggregate {{ s }}.array_cat_agg(anycompatiblearray) (
    sfunc = array_cat, stype = anycompatiblearray, initcond = '{}'
);

create or replace function {{ s }}.to_days(n bigint)
returns interval language sql immutable strict parallel safe
as $fn$ select make_interval(days => n::int) $fn$;

create or replace function {{ s }}.to_hours(n bigint)
returns interval language sql immutable strict parallel safe
as $fn$ select make_interval(hours => n::int) $fn$;

create or replace function {{ s }}.to_minutes(n bigint)
returns interval language sql immutable strict parallel safe
as $fn$ select make_interval(mins => n::int) $fn$;
{%- endmacro %}
