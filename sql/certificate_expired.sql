-- Lots packed (made) after a certificate that covers them had expired: a lot's own conformity
-- pledge (certificate.lot_id), or a product certificate (GI, green food, organic) of its GTIN.
-- A certificate is valid through its valid_until day in Asia/Shanghai (UTC+08:00, no DST
-- since 1991), so the lot's made_at (UTC) is compared as a local date. Another certificate of
-- the same kind covering the same lot or GTIN, valid that day, is a renewal: then no finding.
-- The PostgreSQL copy differs only in how a UTC time becomes a local date.
WITH made AS (
    SELECT l.lot_id, l.gtin, l.made_at, date(l.made_at, '+8 hours') AS made_on
    FROM lot AS l
    WHERE l.lot_id IN (SELECT c.lot_id FROM certificate AS c WHERE c.lot_id IS NOT NULL)
       OR l.gtin IN (SELECT c.gtin FROM certificate AS c WHERE c.gtin IS NOT NULL)
),
covering AS (
    SELECT m.lot_id, m.gtin, m.made_at, m.made_on, c.record_id, c.certificate_id, c.kind,
           c.number, c.valid_until
    FROM made AS m
    JOIN certificate AS c ON c.lot_id = m.lot_id AND c.kind = 'conformity_pledge'
    UNION ALL
    SELECT m.lot_id, m.gtin, m.made_at, m.made_on, c.record_id, c.certificate_id, c.kind,
           c.number, c.valid_until
    FROM made AS m
    JOIN certificate AS c ON c.gtin = m.gtin AND c.kind <> 'conformity_pledge'
)
SELECT v.lot_id, v.gtin, v.made_at, v.made_on, v.certificate_id, v.kind, v.number, v.valid_until
FROM covering AS v
WHERE v.valid_until IS NOT NULL AND v.valid_until < v.made_on
  AND NOT EXISTS (
      SELECT 1 FROM certificate AS r
      WHERE r.kind = v.kind AND r.record_id <> v.record_id
        AND ((v.kind = 'conformity_pledge' AND r.lot_id = v.lot_id)
             OR (v.kind <> 'conformity_pledge' AND r.gtin = v.gtin))
        AND r.issued_on <= v.made_on
        AND (r.valid_until IS NULL OR r.valid_until >= v.made_on))
ORDER BY v.lot_id, v.certificate_id
