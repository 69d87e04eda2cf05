-- The codes each column may hold, as CHECK constraints: the same lists as the StrEnums of
-- callback_desk/core/model.py (tests/db/test_schema.py compares them), so a typo in code or
-- a value from a newer or older writer fails loudly at the insert instead of hiding in a report.

-- Dial() statuses that Asterisk does not document were stored as given until now.
UPDATE callback_attempts
SET dial_status = 'UNKNOWN'
WHERE dial_status NOT IN ('ANSWER', 'BUSY', 'NOANSWER', 'CANCEL', 'CONGESTION', 'CHANUNAVAIL',
                          'DONTCALL', 'TORTURE', 'INVALIDARGS', 'UNKNOWN');

ALTER TABLE callback_attempts
    ADD CONSTRAINT callback_attempts_dial_status_check
    CHECK (dial_status IN ('ANSWER', 'BUSY', 'NOANSWER', 'CANCEL', 'CONGESTION', 'CHANUNAVAIL',
                           'DONTCALL', 'TORTURE', 'INVALIDARGS', 'UNKNOWN'));

ALTER TABLE calls
    ADD CONSTRAINT calls_reason_check
    CHECK (reason IN ('answered', 'voicemail_left', 'voicemail_greeting', 'queue_abandoned',
                      'hangup_while_ringing', 'no_answer', 'busy', 'unavailable', 'ivr_hangup',
                      'hangup_before_ringing', 'unknown_end', 'reconciled_voicemail_unknown',
                      'reconciled_unanswered'));
