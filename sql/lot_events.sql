-- The events behind a set of lots and plots: what made each lot, the field work on each plot,
-- and the shipments that carried the lots. Parameters: :lots and :plots (expanding lists).
SELECT ev.event_id, ev.source, ev.record_id, ev.step, ev.time, ev.time_offset_min,
       ev.party_id, ev.lot_id, ev.plot_id, ev.input_reg_no, ev.source_file, ev.line
FROM event AS ev
WHERE (ev.lot_id IN :lots AND ev.source IN ('production', 'processing'))
   OR (ev.plot_id IN :plots AND ev.source = 'production')
   OR ev.event_id IN (SELECT s.event_id FROM shipment AS s
                      JOIN shipment_lot AS sl ON sl.shipment_id = s.shipment_id
                      WHERE sl.lot_id IN :lots)
ORDER BY ev.time, ev.event_id
