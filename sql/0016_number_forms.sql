-- How a caller's number looks to people, kept rather than worked out again.
--
-- Every report shows each caller's number in the practice's national form (callback_desk/core/
-- shown.py), which phonenumbers' rules decide: ~10 us a number, ~150 ms of the 75-day report
-- of every line of bench/year.py (15,839 distinct numbers, none of which a cache in one process
-- could have seen before). The answer depends on nothing but the number key, the practice's
-- country ([pbx] country) and the rules (the phonenumbers release), so it is kept under all
-- three: a report reads the forms of its own country and rules with its callers
-- ('awaiting_document') and keeps those it had to work out ('keep_number_forms'). A change of
-- country or of rules finds none of the old forms and works them out again; the old rows are
-- only unused (until the purge below). Nothing else adds here: the form is a pure function of
-- the key, so no writer of calls can make one stale (tests/db/test_number_forms.py rebuilds
-- them and compares).
--
-- A report probes the key once per caller (15,839 times for bench/year.py's 75 days): its
-- columns compare bytes (COLLATE "C"), not the locale's rules, which only an order for people
-- would need.
CREATE TABLE number_forms (
    country text COLLATE "C" NOT NULL,  -- ISO 3166, as [pbx] country
    rules text COLLATE "C" NOT NULL,  -- the phonenumbers release whose rules made the form
    number_key text COLLATE "C" NOT NULL,  -- E.164
    shown text NOT NULL,
    PRIMARY KEY (country, rules, number_key)
);

-- A kept form is a caller's number: it goes with the last call that holds it. The retention job
-- deletes old calls (sql/0008_least_privilege.sql), then the forms of numbers no call holds any
-- more, so that no number outlives [retention] here. As in 0008, with that one statement more.
CREATE OR REPLACE FUNCTION purge_calls_before(p_before timestamptz)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    gone bigint;
BEGIN
    IF p_before IS NULL OR p_before > now() - interval '23 hours' THEN
        RAISE EXCEPTION 'purge deletes calls older than a day only (cut-off %)', p_before
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    DELETE FROM calls WHERE started_at < p_before;
    GET DIAGNOSTICS gone = ROW_COUNT;
    DELETE FROM number_forms f
    WHERE NOT EXISTS (SELECT 1 FROM calls c WHERE c.number_key = f.number_key);
    RETURN gone;
END
$$;
