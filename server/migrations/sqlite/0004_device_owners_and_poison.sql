-- 0004: devices belong to someone, and poison is recognised (issue 12).
-- A punch is unique per owning unit: the same serial, PIN, instant and state in two units are two
-- punches, so one unit's gateway forging another's serial can never turn the real punch into a duplicate.
-- SQLite cannot change a table's constraint: the table is rebuilt with the new key.
CREATE TABLE "punch_0004" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "device_serial" VARCHAR(64) NOT NULL,
    "pin" VARCHAR(24) NOT NULL,
    "punched_at" TIMESTAMP NOT NULL,
    "utc_offset_minutes" SMALLINT NOT NULL,
    "state" SMALLINT NOT NULL,
    "verify" SMALLINT NOT NULL,
    "unit_code" VARCHAR(63) NOT NULL,
    "gateway_id" VARCHAR(63) NOT NULL,
    "batch_id" VARCHAR(32) NOT NULL,
    "flag" VARCHAR(32),
    "received_at" TIMESTAMP NOT NULL,
    "employee_nip" VARCHAR(18),
    CONSTRAINT "uid_punch_unit_device" UNIQUE ("unit_code", "device_serial", "pin", "punched_at", "state")
);
INSERT INTO "punch_0004" ("id", "device_serial", "pin", "punched_at", "utc_offset_minutes", "state", "verify",
                          "unit_code", "gateway_id", "batch_id", "flag", "received_at", "employee_nip")
SELECT "id", "device_serial", "pin", "punched_at", "utc_offset_minutes", "state", "verify",
       "unit_code", "gateway_id", "batch_id", "flag", "received_at", "employee_nip" FROM "punch";
DROP TABLE "punch";
ALTER TABLE "punch_0004" RENAME TO "punch";
CREATE INDEX IF NOT EXISTS "idx_punch_unit_co_52e17a" ON "punch" ("unit_code", "punched_at");
CREATE INDEX IF NOT EXISTS "idx_punch_unmapped" ON "punch" ("unit_code", "pin") WHERE "employee_nip" IS NULL;
-- The same quarantined message delivered again (a redelivery after a restart) is kept once.
ALTER TABLE "quarantined_message" ADD COLUMN "digest" VARCHAR(64);
CREATE UNIQUE INDEX IF NOT EXISTS "uid_quarantined_digest" ON "quarantined_message" ("digest");
-- A device the centre has never seen, as one gateway reports it: waiting for its unit's administrator.
CREATE TABLE IF NOT EXISTS "pending_device" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "serial" VARCHAR(64) NOT NULL,
    "gateway_id" VARCHAR(63) NOT NULL,
    "unit_code" VARCHAR(63) NOT NULL,
    "name" VARCHAR(100) NOT NULL,
    "first_seen_at" TIMESTAMP NOT NULL,
    "last_seen_at" TIMESTAMP NOT NULL,
    CONSTRAINT "uid_pending_device_gateway_serial" UNIQUE ("gateway_id", "serial")
);
CREATE INDEX IF NOT EXISTS "idx_pending_device_unit" ON "pending_device" ("unit_code");
-- The punch batches of a pending device, kept whole until it is assigned (then stored, in this order).
CREATE TABLE IF NOT EXISTS "held_batch" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "gateway_id" VARCHAR(63) NOT NULL,
    "unit_code" VARCHAR(63) NOT NULL,
    "device_serial" VARCHAR(64) NOT NULL,
    "batch_id" VARCHAR(32) NOT NULL,
    "punches" INT NOT NULL,
    "payload" BLOB NOT NULL,
    "received_at" TIMESTAMP NOT NULL,
    CONSTRAINT "uid_held_batch_gateway_batch" UNIQUE ("gateway_id", "batch_id")
);
CREATE INDEX IF NOT EXISTS "idx_held_batch_device" ON "held_batch" ("gateway_id", "device_serial", "id");
