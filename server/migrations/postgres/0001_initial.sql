-- 0001: the initial schema: registry, punches, quarantine, gateway status and commands.
CREATE TABLE IF NOT EXISTS "gateway_command" (
    "command_id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "gateway_id" VARCHAR(63) NOT NULL,
    "unit_code" VARCHAR(63) NOT NULL,
    "action" VARCHAR(32) NOT NULL,
    "args" JSONB NOT NULL,
    "status" VARCHAR(16) NOT NULL,
    "detail" TEXT,
    "results" JSONB,
    "created_at" TIMESTAMPTZ NOT NULL,
    "answered_at" TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS "idx_gateway_com_gateway_ab5c87" ON "gateway_command" ("gateway_id");
CREATE TABLE IF NOT EXISTS "punch" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "device_serial" VARCHAR(64) NOT NULL,
    "pin" VARCHAR(24) NOT NULL,
    "punched_at" TIMESTAMPTZ NOT NULL,
    "utc_offset_minutes" SMALLINT NOT NULL,
    "state" SMALLINT NOT NULL,
    "verify" SMALLINT NOT NULL,
    "unit_code" VARCHAR(63) NOT NULL,
    "gateway_id" VARCHAR(63) NOT NULL,
    "batch_id" VARCHAR(32) NOT NULL,
    "flag" VARCHAR(32),
    "received_at" TIMESTAMPTZ NOT NULL,
    "employee_nip" VARCHAR(18),
    CONSTRAINT "uid_punch_device__aac0f2" UNIQUE ("device_serial", "pin", "punched_at", "state")
);
CREATE INDEX IF NOT EXISTS "idx_punch_unit_co_9e0230" ON "punch" ("unit_code");
CREATE INDEX IF NOT EXISTS "idx_punch_unit_co_52e17a" ON "punch" ("unit_code", "punched_at");
CREATE TABLE IF NOT EXISTS "quarantined_message" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "topic" VARCHAR(255) NOT NULL,
    "payload" BYTEA NOT NULL,
    "reason" TEXT NOT NULL,
    "gateway_id" VARCHAR(63),
    "received_at" TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS "unit" (
    "code" VARCHAR(63) NOT NULL PRIMARY KEY,
    "name" VARCHAR(200) NOT NULL,
    "kind" VARCHAR(24) NOT NULL,
    "parent_id" VARCHAR(63) REFERENCES "unit" ("code") ON DELETE RESTRICT
);
CREATE TABLE IF NOT EXISTS "employee" (
    "nip" VARCHAR(18) NOT NULL PRIMARY KEY,
    "name" VARCHAR(200) NOT NULL,
    "position" VARCHAR(200) NOT NULL,
    "birth_date" DATE,
    "appointment_month" VARCHAR(7),
    "sex" SMALLINT,
    "supervisor_id" VARCHAR(18) REFERENCES "employee" ("nip") ON DELETE SET NULL,
    "unit_id" VARCHAR(63) NOT NULL REFERENCES "unit" ("code") ON DELETE RESTRICT
);
CREATE TABLE IF NOT EXISTS "device_pin" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "pin" VARCHAR(24) NOT NULL,
    "employee_id" VARCHAR(18) NOT NULL REFERENCES "employee" ("nip") ON DELETE CASCADE,
    "unit_id" VARCHAR(63) NOT NULL REFERENCES "unit" ("code") ON DELETE CASCADE,
    CONSTRAINT "uid_device_pin_unit_id_f7c2fb" UNIQUE ("unit_id", "pin")
);
CREATE TABLE IF NOT EXISTS "office" (
    "code" VARCHAR(63) NOT NULL PRIMARY KEY,
    "name" VARCHAR(200) NOT NULL,
    "zone" VARCHAR(4) NOT NULL,
    "unit_id" VARCHAR(63) NOT NULL REFERENCES "unit" ("code") ON DELETE RESTRICT
);
CREATE TABLE IF NOT EXISTS "device" (
    "serial" VARCHAR(64) NOT NULL PRIMARY KEY,
    "name" VARCHAR(100) NOT NULL,
    "profile" VARCHAR(100) NOT NULL,
    "gateway_id" VARCHAR(63),
    "reachable" BOOL,
    "last_poll_ok_at" TIMESTAMPTZ,
    "last_punch_at" TIMESTAMPTZ,
    "clock_drift_s" DOUBLE PRECISION,
    "record_count" INT,
    "record_capacity" INT,
    "last_error" TEXT,
    "telemetry_at" TIMESTAMPTZ,
    "office_id" VARCHAR(63) REFERENCES "office" ("code") ON DELETE SET NULL
);
CREATE TABLE IF NOT EXISTS "gateway" (
    "gateway_id" VARCHAR(63) NOT NULL PRIMARY KEY,
    "unit_code" VARCHAR(63) NOT NULL,
    "registered" BOOL NOT NULL,
    "online" BOOL NOT NULL,
    "version" VARCHAR(64),
    "status_at" TIMESTAMPTZ,
    "last_seen_at" TIMESTAMPTZ,
    "queued_punches" INT,
    "in_flight_batches" INT,
    "oldest_queued_age_s" DOUBLE PRECISION,
    "rejected_punches" INT,
    "telemetry_at" TIMESTAMPTZ,
    "office_id" VARCHAR(63) REFERENCES "office" ("code") ON DELETE SET NULL
);

-- Resolving punches of PINs mapped later looks them up by unit and PIN.
CREATE INDEX IF NOT EXISTS "idx_punch_unit_pin" ON "punch" ("unit_code", "pin");
