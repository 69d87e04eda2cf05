-- The lab PBX's CDR/CEL tables in MariaDB (database cbd_lab_cdr), as FreePBX creates them
-- (framework installlib/SQL/cdr.sql plus the linkedid/peeraccount/sequence columns Asterisk
-- fills when present; the cdr module's install.php for cel), written through
-- cdr_adaptive_odbc/cel_odbc. Applied by `labctl up`, which also empties them.
CREATE TABLE IF NOT EXISTS cdr (
   calldate datetime NOT NULL default '1000-01-01 00:00:00',
   clid varchar(80) NOT NULL default '', src varchar(80) NOT NULL default '',
   dst varchar(80) NOT NULL default '', dcontext varchar(80) NOT NULL default '',
   channel varchar(80) NOT NULL default '', dstchannel varchar(80) NOT NULL default '',
   lastapp varchar(80) NOT NULL default '', lastdata varchar(80) NOT NULL default '',
   duration int(11) NOT NULL default '0', billsec int(11) NOT NULL default '0',
   disposition varchar(45) NOT NULL default '', amaflags int(11) NOT NULL default '0',
   accountcode varchar(20) NOT NULL default '', uniqueid varchar(32) NOT NULL default '',
   userfield varchar(255) NOT NULL default '', did varchar(50) NOT NULL default '',
   recordingfile varchar(255) NOT NULL default '', cnum varchar(80) NOT NULL default '',
   cnam varchar(80) NOT NULL default '', outbound_cnum varchar(80) NOT NULL default '',
   outbound_cnam varchar(80) NOT NULL default '', dst_cnam varchar(80) NOT NULL default '',
   linkedid varchar(32) NOT NULL default '', peeraccount varchar(80) NOT NULL default '',
   sequence int(11) NOT NULL default '0',
   KEY calldate (calldate), KEY uniqueid (uniqueid), KEY did (did)
) DEFAULT CHARSET=utf8mb4;
CREATE TABLE IF NOT EXISTS cel (
  id int(11) NOT NULL auto_increment, eventtype varchar(30) NOT NULL,
  eventtime datetime NOT NULL, cid_name varchar(80) NOT NULL, cid_num varchar(80) NOT NULL,
  cid_ani varchar(80) NOT NULL, cid_rdnis varchar(80) NOT NULL, cid_dnid varchar(80) NOT NULL,
  exten varchar(80) NOT NULL, context varchar(80) NOT NULL, channame varchar(80) NOT NULL,
  src varchar(80) NOT NULL, dst varchar(80) NOT NULL, channel varchar(80) NOT NULL,
  dstchannel varchar(80) NOT NULL, appname varchar(80) NOT NULL, appdata varchar(80) NOT NULL,
  amaflags int(11) NOT NULL, accountcode varchar(20) NOT NULL, uniqueid varchar(32) NOT NULL,
  linkedid varchar(32) NOT NULL, peer varchar(80) NOT NULL, userdeftype varchar(255) NOT NULL,
  eventextra varchar(255) NOT NULL, userfield varchar(255) NOT NULL,
  PRIMARY KEY (id), KEY uniqueid_index (uniqueid), KEY linkedid_index (linkedid)
) DEFAULT CHARSET=utf8mb4;
TRUNCATE cdr;
TRUNCATE cel;
