-- The lab PBX's CDR/CEL tables in PostgreSQL (database cbd_lab_cdr), as cdr_pgsql/cel_pgsql
-- write them (Asterisk's contrib schema; times without zone, written in UTC). Applied by
-- `labctl up`, which also empties them: every lab start begins with no records.
CREATE TABLE IF NOT EXISTS cdr (
    calldate    timestamp   NOT NULL DEFAULT now(),
    clid        text        NOT NULL DEFAULT '',
    src         text        NOT NULL DEFAULT '',
    dst         text        NOT NULL DEFAULT '',
    dcontext    text        NOT NULL DEFAULT '',
    channel     text        NOT NULL DEFAULT '',
    dstchannel  text        NOT NULL DEFAULT '',
    lastapp     text        NOT NULL DEFAULT '',
    lastdata    text        NOT NULL DEFAULT '',
    duration    bigint      NOT NULL DEFAULT 0,
    billsec     bigint      NOT NULL DEFAULT 0,
    disposition text        NOT NULL DEFAULT '',
    amaflags    bigint      NOT NULL DEFAULT 0,
    accountcode text        NOT NULL DEFAULT '',
    uniqueid    text        NOT NULL DEFAULT '',
    userfield   text        NOT NULL DEFAULT '',
    peeraccount text        NOT NULL DEFAULT '',
    linkedid    text        NOT NULL DEFAULT '',
    sequence    integer     NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS cdr_calldate_idx ON cdr (calldate);
CREATE INDEX IF NOT EXISTS cdr_linkedid_idx ON cdr (linkedid);

CREATE TABLE IF NOT EXISTS cel (
    id          bigserial   PRIMARY KEY,
    eventtype   text        NOT NULL,
    eventtime   timestamp   NOT NULL,
    userdeftype text        NOT NULL DEFAULT '',
    cid_name    text        NOT NULL DEFAULT '',
    cid_num     text        NOT NULL DEFAULT '',
    cid_ani     text        NOT NULL DEFAULT '',
    cid_rdnis   text        NOT NULL DEFAULT '',
    cid_dnid    text        NOT NULL DEFAULT '',
    exten       text        NOT NULL DEFAULT '',
    context     text        NOT NULL DEFAULT '',
    channame    text        NOT NULL DEFAULT '',
    appname     text        NOT NULL DEFAULT '',
    appdata     text        NOT NULL DEFAULT '',
    accountcode text        NOT NULL DEFAULT '',
    peeraccount text        NOT NULL DEFAULT '',
    uniqueid    text        NOT NULL DEFAULT '',
    linkedid    text        NOT NULL DEFAULT '',
    amaflags    integer     NOT NULL DEFAULT 0,
    userfield   text        NOT NULL DEFAULT '',
    peer        text        NOT NULL DEFAULT '',
    extra       text        NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS cel_eventtime_idx ON cel (eventtime);
CREATE INDEX IF NOT EXISTS cel_linkedid_idx ON cel (linkedid);

TRUNCATE cdr, cel;
