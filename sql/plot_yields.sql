-- Harvested kg per plot and harvest year (Asia/Shanghai), with the plot's area and crop
-- (the version of the plot valid at the harvest). SQLite spelling; PostgreSQL has its own copy.
SELECT p.plot_id, p.county_code, p.crop, p.area_mu,
       strftime('%Y', h.made_at, '+8 hours') AS year,
       SUM(h.quantity_kg) AS harvested_kg, COUNT(*) AS harvests
FROM lot AS h
JOIN plot AS p ON p.plot_id = h.plot_id
 AND p.version = COALESCE(
       (SELECT MAX(q.version) FROM plot AS q
        WHERE q.plot_id = p.plot_id AND q.valid_from <= h.made_at),
       (SELECT MIN(q.version) FROM plot AS q WHERE q.plot_id = p.plot_id))
GROUP BY p.plot_id, p.county_code, p.crop, p.area_mu, strftime('%Y', h.made_at, '+8 hours')
ORDER BY p.plot_id, 5
