-- Harvest records with the plot geometry that was valid when they were harvested: the
-- newest version whose valid_from is not after the harvest (or the first version when the
-- harvest predates them all). The GPS point is in the event's payload (lon, lat).
SELECT ev.record_id, ev.plot_id, ev.lot_id, ev.payload, p.version, p.geometry
FROM event AS ev
JOIN lot AS h ON h.lot_id = ev.lot_id
JOIN plot AS p ON p.plot_id = ev.plot_id
WHERE ev.source = 'production' AND ev.step = 'harvest'
  AND p.version = COALESCE(
        (SELECT MAX(q.version) FROM plot AS q
         WHERE q.plot_id = p.plot_id AND q.valid_from <= h.made_at),
        (SELECT MIN(q.version) FROM plot AS q WHERE q.plot_id = p.plot_id))
