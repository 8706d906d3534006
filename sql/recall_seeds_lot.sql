-- Recall seeds: one lot (:key). The date window does not apply to a lot named outright.
SELECT lot_id, gtin, units, quantity_kg FROM lot WHERE lot_id = :key
