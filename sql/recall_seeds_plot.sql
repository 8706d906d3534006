-- Recall seeds: the harvest lots of one plot (:key) harvested in [:date_from, :date_to).
SELECT lot_id, gtin, units, quantity_kg FROM lot
WHERE plot_id = :key AND made_at >= :date_from AND made_at < :date_to
