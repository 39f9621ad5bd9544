-- 0002: fewer indexes on the hottest table. Every index costs each of the morning's inserts:
-- unit_code alone is covered by (unit_code, punched_at), and resolving PINs mapped late only ever
-- looks at punches without an employee, so that index holds those rows only.
DROP INDEX IF EXISTS "idx_punch_unit_co_9e0230";
DROP INDEX IF EXISTS "idx_punch_unit_pin";
CREATE INDEX IF NOT EXISTS "idx_punch_unmapped" ON "punch" ("unit_code", "pin") WHERE "employee_nip" IS NULL;
