-- Every edge's copy of its child lot's GTIN, units and kg, from lot, in one pass (migration
-- 0004 on a store that already holds edges; the bench generator after its load). The
-- triggers of migration 0004 keep the same copies row by row; edges whose child lot is not
-- in the store keep NULLs.
UPDATE edge SET child_gtin = lot.gtin, child_units = lot.units, child_kg = lot.quantity_kg
FROM lot
WHERE lot.lot_id = edge.child_lot
