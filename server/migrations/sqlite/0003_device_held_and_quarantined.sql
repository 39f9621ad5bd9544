-- 0003: what a gateway holds back from the server (suspect punches for review, unreadable raw
-- records) is reported in telemetry per device, so the centre can see it.
ALTER TABLE "device" ADD COLUMN "held_punches" INT NOT NULL DEFAULT 0;
ALTER TABLE "device" ADD COLUMN "quarantined" INT NOT NULL DEFAULT 0;
