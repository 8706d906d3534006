-- lot_flow from scratch: per lot and party, the kg it received and shipped on (shipment lines)
-- and the units it sold (till records), with the number of records behind each row. The
-- triggers of migration 0003 keep the same sums row by row; this fills the table in one pass
-- (the migration, on a store that already holds shipments and sales; the bench generator).
INSERT INTO lot_flow (lot_id, party_id, received_kg, shipped_kg, sold_units, records)
SELECT lot_id, party_id, SUM(received_kg), SUM(shipped_kg), SUM(sold_units), SUM(records)
FROM (
    SELECT sl.lot_id, s.to_party AS party_id, sl.kg AS received_kg, 0.0 AS shipped_kg,
           0 AS sold_units, 1 AS records
    FROM shipment_lot AS sl JOIN shipment AS s ON s.shipment_id = sl.shipment_id
    UNION ALL
    SELECT sl.lot_id, s.from_party, 0.0, sl.kg, 0, 1
    FROM shipment_lot AS sl JOIN shipment AS s ON s.shipment_id = sl.shipment_id
    UNION ALL
    SELECT lot_id, retailer_id, 0.0, 0.0, quantity_units, 1 FROM sale
) AS moves
GROUP BY lot_id, party_id
