-- Recall seeds: the harvest lots of every plot in a county (:key, 6-digit code), harvested
-- in [:date_from, :date_to).
SELECT l.lot_id, l.gtin, l.units, l.quantity_kg FROM lot AS l
WHERE l.plot_id IN (SELECT p.plot_id FROM plot AS p WHERE p.county_code = :key)
  AND l.made_at >= :date_from AND l.made_at < :date_to
