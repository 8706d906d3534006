-- Recall seeds: for every application of an input (:key, e.g. pesticide registration number
-- PD20080123) in [:date_from, :date_to), the first harvest of that plot after it: the crop
-- that was sprayed. A later season's harvest of the same plot is not included.
SELECT DISTINCT h.lot_id, h.gtin, h.units, h.quantity_kg
FROM event AS ev
JOIN lot AS h ON h.plot_id = ev.plot_id AND h.made_at >= ev.time
WHERE ev.input_reg_no = :key AND ev.source = 'production'
  AND ev.time >= :date_from AND ev.time < :date_to
  AND NOT EXISTS (SELECT 1 FROM lot AS h2
                  WHERE h2.plot_id = ev.plot_id AND h2.made_at >= ev.time
                    AND h2.made_at < h.made_at)
