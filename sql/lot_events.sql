-- The events behind a set of lots and plots: what made each lot, the field work on each plot
-- in the season of its harvest, and the shipments that carried the lots.
-- Parameters: :lots and :plots (expanding lists).
-- Three SELECTs joined by UNION rather than one WHERE with ORs, so that each part uses its
-- own index (event.lot_id, event.plot_id, shipment_lot.lot_id).
-- Field work counts when it happened after the plot's previous harvest (not in this lineage)
-- and no later than the last harvest of the plot that is in it: last season's spraying is
-- not this bag's history.
SELECT ev.event_id, ev.source, ev.record_id, ev.step, ev.time, ev.time_offset_min,
       ev.party_id, ev.lot_id, ev.plot_id, ev.input_reg_no, ev.source_file, ev.line
FROM event AS ev
WHERE ev.lot_id IN :lots AND ev.source <> 'sales'  -- '<>' keeps the planner on ix_event_lot_id
UNION
SELECT ev.event_id, ev.source, ev.record_id, ev.step, ev.time, ev.time_offset_min,
       ev.party_id, ev.lot_id, ev.plot_id, ev.input_reg_no, ev.source_file, ev.line
FROM event AS ev
WHERE ev.plot_id IN :plots AND ev.source <> 'plots' AND ev.step <> 'harvest'
  -- '<>', not "source = 'production'": an equality would put SQLite on the (source,
  -- record_id) index and scan every production event (0.9 s at 200,000 plots)
  AND ev.time <= (SELECT MAX(h.made_at) FROM lot AS h
                  WHERE h.plot_id = ev.plot_id AND h.lot_id IN :lots)
  AND NOT EXISTS (SELECT 1 FROM lot AS prev
                  WHERE prev.plot_id = ev.plot_id AND prev.made_at >= ev.time
                    AND prev.lot_id NOT IN :lots
                    AND prev.made_at < (SELECT MIN(h2.made_at) FROM lot AS h2
                                        WHERE h2.plot_id = ev.plot_id AND h2.lot_id IN :lots))
UNION
SELECT ev.event_id, ev.source, ev.record_id, ev.step, ev.time, ev.time_offset_min,
       ev.party_id, ev.lot_id, ev.plot_id, ev.input_reg_no, ev.source_file, ev.line
FROM shipment_lot AS sl
JOIN shipment AS s ON s.shipment_id = sl.shipment_id
JOIN event AS ev ON ev.event_id = s.event_id
WHERE sl.lot_id IN :lots
ORDER BY 5, 1
