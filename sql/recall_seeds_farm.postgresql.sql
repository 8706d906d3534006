-- Recall seeds: the harvest lots of every plot a farm (:key) farms (any version of the plot),
-- harvested in [:date_from, :date_to). PostgreSQL: each plot's lots through a LATERAL
-- subquery with OFFSET 0, as in sql/recall_seeds_county.postgresql.sql and for the same
-- reason (no scan of all of lot on a store without planner statistics).
SELECT h.lot_id, h.gtin, h.units, h.quantity_kg FROM plot AS p
CROSS JOIN LATERAL (
    SELECT lot_id, gtin, units, quantity_kg FROM lot
    WHERE lot.plot_id = p.plot_id AND lot.made_at >= :date_from AND lot.made_at < :date_to
    OFFSET 0
) AS h
WHERE p.farm_id = :key
