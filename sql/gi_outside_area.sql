-- Lots labelled with a geographical indication (their GTIN is the product of a
-- geographical_indication certificate) with a source plot outside the GI's counties.
-- Every labelled lot is walked back through edge to its harvest lots in one recursive
-- statement (UNION, not UNION ALL: a lot reached by two paths is walked once, and a cycle
-- ends); a plot's county is its newest version's. The GI's area is ';'-separated county
-- codes, matched as ';code;' inside ';area;'.
WITH RECURSIVE labelled AS (
    SELECT DISTINCT l.lot_id
    FROM lot AS l
    JOIN certificate AS c ON c.gtin = l.gtin AND c.kind = 'geographical_indication'
),
up (lot_id, ancestor) AS (
    SELECT lot_id, lot_id FROM labelled
    UNION
    SELECT up.lot_id, e.parent_lot
    FROM up
    JOIN edge AS e ON e.child_lot = up.ancestor
)
SELECT up.lot_id, l.gtin, c.certificate_id, c.number, c.area, h.plot_id, p.county_code
FROM up
JOIN lot AS l ON l.lot_id = up.lot_id
JOIN certificate AS c ON c.gtin = l.gtin AND c.kind = 'geographical_indication'
JOIN lot AS h ON h.lot_id = up.ancestor AND h.plot_id IS NOT NULL
JOIN plot AS p ON p.plot_id = h.plot_id
 AND p.version = (SELECT MAX(q.version) FROM plot AS q WHERE q.plot_id = p.plot_id)
WHERE ';' || c.area || ';' NOT LIKE '%;' || p.county_code || ';%'
ORDER BY up.lot_id, c.certificate_id, h.plot_id
