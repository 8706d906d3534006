-- Recall seeds: the harvest lots of every plot in a county (:key, 6-digit code), harvested
-- in [:date_from, :date_to). PostgreSQL: the lookup of each plot's lots is a LATERAL
-- subquery with OFFSET 0, like every step of sql/recall.postgresql.sql, so that a store
-- without planner statistics (just loaded, before autovacuum's ANALYZE) does not hash-join a
-- scan of all of lot (bench/lineage.py measured 275 -> 180 ms for a county). A plot with
-- several versions gives its lots once per version; the walk's UNION drops the repeats.
SELECT h.lot_id, h.gtin, h.units, h.quantity_kg FROM plot AS p
CROSS JOIN LATERAL (
    SELECT lot_id, gtin, units, quantity_kg FROM lot
    WHERE lot.plot_id = p.plot_id AND lot.made_at >= :date_from AND lot.made_at < :date_to
    OFFSET 0
) AS h
WHERE p.county_code = :key
